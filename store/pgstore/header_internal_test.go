package pgstore

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"unicode/utf8"
)

// checkHeaderJSON fails t unless headerJSON(h) is valid JSON in UTF-8 that json.Unmarshal
// reads into the header that it reads from json.Marshal's JSON of h.
func checkHeaderJSON(t *testing.T, h http.Header) {
	t.Helper()
	got := headerJSON(h)
	if !json.Valid(got) || !utf8.Valid(got) {
		t.Fatalf("headerJSON(%q) = %q: not valid JSON in UTF-8", h, got)
	}
	want, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var fromGot, fromWant http.Header
	if err := json.Unmarshal(got, &fromGot); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &fromWant); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromGot, fromWant) {
		t.Fatalf("headerJSON(%q) = %s, which reads back as %q; json.Marshal's %s reads back as %q", h, got, fromGot, want, fromWant)
	}
}

func TestHeaderJSON(t *testing.T) {
	for _, h := range []http.Header{
		{},
		{"Content-Type": {"application/json"}, "Webhook-Id": {"msg_1"}, "Accept": {"a", "b"}},
		{"X-Quote": {`say "hi"\now`}, "X-Ctl": {"a\x00b\tc\x1fd\x7f"}},
		{"X-Html": {"<a href='x'>&amp;</a>"}, "X-Sep": {"\u2028\u2029"}},
		{"X-Bad": {"\xff\xfeok\xc3", "é€😀"}, "\xe9t\xe9": {"latin-1 key"}},
		{"X-Nil": nil, "X-Empty": {}, "": {""}},
	} {
		checkHeaderJSON(t, h)
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
