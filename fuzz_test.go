package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz targets below run their seed corpora (testdata/fuzz/<FuzzName>) in every go test;
// README.hardening.md says how to fuzz each one.

var fuzzNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// FuzzRetryAfter checks that any Retry-After value parses to nothing or to a positive wait of
// at most ten years, that whole seconds parse exactly, and that the standard policy only ever
// lengthens its wait, by at most its cap.
func FuzzRetryAfter(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, fuzzNow)
		if ok && (d <= 0 || d > maxRetryAfterSeconds*time.Second) {
			t.Fatalf("parseRetryAfter(%q) = %v, want a positive wait of at most ten years", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, false; want 0 when it fails", v, d)
		}
		if s := strings.TrimSpace(v); s != "" && strings.Trim(s, "0123456789") == "" {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n < maxRetryAfterSeconds {
				if want := time.Duration(n) * time.Second; d != want || ok != (n > 0) {
					t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, %v", v, d, ok, want, n > 0)
				}
			}
		}
		for _, status := range []int{429, 503} {
			r := AttemptResult{Attempt: 1, StatusCode: status, Header: http.Header{"Retry-After": {v}}, End: fuzzNow}
			wait, retry := DefaultRetryPolicy{}.NextRetry(r)
			if !retry || wait < time.Minute || wait > time.Hour {
				t.Fatalf("NextRetry(%d with Retry-After %q) = %v, %v; want a wait from 1m to 1h", status, v, wait, retry)
			}
		}
	})
}
