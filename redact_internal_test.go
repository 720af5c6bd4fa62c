package webhook

import (
	"net/http"
	"reflect"
	"testing"
)

// TestRedactHeader checks that redactHeader copies every header, nil and empty values as
// they are, replaces the values of sensitive ones whatever their case or length, and
// returns values that can be appended to without changing each other.
func TestRedactHeader(t *testing.T) {
	long := "X-A-Very-Long-Header-Name-Of-More-Than-32-Bytes-Token"
	h := http.Header{
		"Content-Type": {"application/json"}, "Vary": {"a", "b"}, "Empty": {}, "Nil": nil,
		"X-Api-Key": {"k1", "k2"}, "SET-COOKIE": nil, "x-session-id": {}, long: {"s"},
		"X-Ünicode-Token": {"t"}, "X-Plain": {"p"},
	}
	want := http.Header{
		"Content-Type": {"application/json"}, "Vary": {"a", "b"}, "Empty": {}, "Nil": nil,
		"X-Api-Key": {redacted}, "SET-COOKIE": {redacted}, "x-session-id": {redacted}, long: {redacted},
		"X-Ünicode-Token": {redacted}, "X-Plain": {"p"},
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
