package pgstore

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// checkHeaderJSON fails tb unless headerJSON(h) is valid JSON in UTF-8 that json.Unmarshal
// reads into the header that it reads from json.Marshal's JSON of h.
func checkHeaderJSON(tb testing.TB, h http.Header) {
	tb.Helper()
	got := headerJSON(h)
	if !json.Valid(got) || !utf8.Valid(got) {
		tb.Fatalf("headerJSON(%q) = %q: not valid JSON in UTF-8", h, got)
	}
	want, err := json.Marshal(h)
	if err != nil {
		tb.Fatalf("json.Marshal(%q): %v", h, err)
	}
	var fromGot, fromWant http.Header
	if err := json.Unmarshal(got, &fromGot); err != nil {
		tb.Fatalf("json.Unmarshal(headerJSON(%q) = %s): %v", h, got, err)
	}
	if err := json.Unmarshal(want, &fromWant); err != nil {
		tb.Fatalf("json.Unmarshal(json.Marshal(%q) = %s): %v", h, want, err)
	}
	if diff := cmp.Diff(fromWant, fromGot); diff != "" {
		tb.Fatalf("headerJSON(%q) = %s reads back unlike json.Marshal's %s (-json.Marshal +headerJSON):\n%s", h, got, want, diff)
	}
}

// manyKeys returns a header of n keys, more than headerJSON sorts without an allocation.
func manyKeys(n int) http.Header {
	h := make(http.Header, n)
	for i := range n {
		h["X-Key-"+strconv.Itoa(n-i)] = []string{strconv.Itoa(i)}
	}
	return h
}

func TestHeaderJSON(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.Header
	}{
		{"empty", http.Header{}},
		{"plain", http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {"msg_1"}, "Accept": {"a", "b"}}},
		{"quotes and backslashes", http.Header{"X-Quote": {`say "hi"\now`}}},
		{"control characters", http.Header{"X-Ctl": {"a\x00b\tc\nd\x1fe\x7f"}}},
		{"html and line separators", http.Header{"X-Html": {"<a href='x'>&amp;</a>"}, "X-Sep": {"\u2028\u2029"}}},
		{"invalid UTF-8", http.Header{"X-Bad": {"\xff\xfeok\xc3", "é€😀", "\xed\xa0\x80"}, "\xe9t\xe9": {"latin-1 key"}}},
		{"nil and empty values", http.Header{"X-Nil": nil, "X-Empty": {}, "": {""}}},
		{"more keys than the stack holds", manyKeys(40)},
	} {
		t.Run(tt.name, func(t *testing.T) { checkHeaderJSON(t, tt.h) })
	}
	if got := headerJSON(nil); got != nil {
		t.Errorf("headerJSON(nil) = %q, want nil (NULL)", got)
	}
	// The keys are in order, as json.Marshal writes them.
	h := http.Header{"B": {"2"}, "A": {"1"}, "C": {"3"}}
	if got, want := string(headerJSON(h)), `{"A":["1"],"B":["2"],"C":["3"]}`; got != want {
		t.Errorf("headerJSON(%q) = %s, want %s", h, got, want)
	}
}

func FuzzHeaderJSON(f *testing.F) {
	f.Add("Content-Type", "application/json", "x")
	f.Add("X-A\"b", "\x00\\\xff", "é")
	f.Fuzz(func(t *testing.T, k, v1, v2 string) {
		checkHeaderJSON(t, http.Header{k: {v1, v2}, k + "2": {v2}})
	})
}

// BenchmarkHeaderJSON writes the headers of a signed request, as a finish does for every
// attempt, with headerJSON and, to compare, with json.Marshal.
func BenchmarkHeaderJSON(b *testing.B) {
	h := http.Header{
		"Content-Type":      {"application/json"},
		"User-Agent":        {"hookline-webhook/1"},
		"Webhook-Id":        {"job_01JF8Z5Y5W6X7Y8Z9A0B1C2D3E"},
		"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="},
		"Webhook-Timestamp": {"1765000000"},
	}
	b.Run("headerJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			headerJSON(h)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
