package webhook

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

// TestRedactHeader checks that redactHeader copies every header, nil and empty values as
// they are, replaces the values of sensitive ones whatever their case (Unicode's too) or
// length, and returns values that can be appended to without changing each other.
func TestRedactHeader(t *testing.T) {
	long := "X-A-Very-Long-Header-Name-Of-More-Than-32-Bytes-Token"
	h := http.Header{
		"Content-Type": {"application/json"}, "Vary": {"a", "b"}, "Empty": {}, "Nil": nil,
		"X-Api-Key": {"k1", "k2"}, "SET-COOKIE": nil, "x-session-id": {}, long: {"s"},
		"X-Ünicode-Token": {"t"}, "X-Plain": {"p"}, "X-\u212Aey": {"k"}, // a Kelvin sign lower-cases to "k"
	}
	want := http.Header{
		"Content-Type": {"application/json"}, "Vary": {"a", "b"}, "Empty": {}, "Nil": nil,
		"X-Api-Key": {redacted}, "SET-COOKIE": {redacted}, "x-session-id": {redacted}, long: {redacted},
		"X-Ünicode-Token": {redacted}, "X-Plain": {"p"}, "X-\u212Aey": {redacted},
	}
	got := redactHeader(h)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("redactHeader(%v) = %v, want %v", h, got, want)
	}
	got["Vary"] = append(got["Vary"], "c")
	if got["X-Api-Key"][0] != redacted || got["X-Plain"][0] != "p" || len(h["Vary"]) != 2 {
		t.Errorf("appending to one copied header changed another: %v, original %v", got, h)
	}
	if redactHeader(nil) != nil {
		t.Error("redactHeader(nil) != nil")
	}
}

// BenchmarkRedacted redacts a typical signed request, as every attempt's log entry does.
func BenchmarkRedacted(b *testing.B) {
	r := &Request{Method: http.MethodPost, URL: "https://api.example.com/users/u1/status", Header: http.Header{
		"User-Agent": {defaultUserAgent}, "Webhook-Id": {"dlv_1"}, "Content-Type": {"application/json"},
		"Webhook-Timestamp": {"1700000000"}, "Webhook-Signature": {"v1,abc"}, "X-Tenant": {"t1"},
	}}
	b.ReportAllocs()
	for b.Loop() {
		r.Redacted()
	}
}

// TestCommonNames checks the names sensitiveName decides up front against the general rule.
func TestCommonNames(t *testing.T) {
	for _, c := range commonNames {
		if got := hasSensitiveWord(c.name); got != c.sensitive {
			t.Errorf("hasSensitiveWord(%q) = %v, but commonNames says %v", c.name, got, c.sensitive)
		}
	}
}

// TestRedactURL checks that redactURL hides a user info password and the values of
// sensitive query parameters, and leaves the rest of the URL as written.
func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://example.com/a?b=1", "https://example.com/a?b=1"},
		{"https://ann:s3cret@example.com/a", "https://ann:REDACTED@example.com/a"},
		{"https://ann@example.com/a", "https://ann@example.com/a"},
		{"https://example.com/?api_key=k&x=1&Token=t&flag", "https://example.com/?api_key=REDACTED&x=1&Token=REDACTED&flag"},
		{"https://example.com/?%zz=v&a%20b=c", "https://example.com/?%zz=REDACTED&a%20b=c"},
		{"https://[::1", "(unparsable URL)"},
	} {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPlainURL checks that the URLs redactURL gives back without parsing are those url.Parse
// takes and URL.String writes back unchanged, and that it parses the others.
func TestPlainURL(t *testing.T) {
	for _, tt := range []struct {
		in    string
		plain bool
	}{
		{"http://127.0.0.1:8080/users/u1/status", true}, {"https://Example.COM", true},
		{"https://example.com/", true}, {"http://h:/a//b/./c~d_e-f", true}, {"http://h.:99999999", true},
		{"https://example.com/a?b=1", false}, {"https://ann:pw@example.com/", false},
		{"https://example.com/a b", false}, {"https://example.com/a%2Fb", false}, {"https://example.com/#x", false},
		{"https://[::1]:80/", false}, {"https://a:b:c/", false}, {"https://a:8x/", false}, {"https:///x", false},
		{"ftp://example.com/", false}, {"HTTP://example.com/", false}, {"https://ex_ample.com/", false},
	} {
		if got := plainURL(tt.in); got != tt.plain {
			t.Errorf("plainURL(%q) = %v, want %v", tt.in, got, tt.plain)
		}
		u, err := url.Parse(tt.in)
		if tt.plain && (err != nil || u.String() != tt.in) {
			t.Errorf("url.Parse(%q) = %v, %v; a plain URL must parse to itself", tt.in, u, err)
		}
	}
}
