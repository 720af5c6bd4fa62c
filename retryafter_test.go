package webhook_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

func TestRetryAfter(t *testing.T) {
	end := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return end.Add(d).Format(http.TimeFormat) }
	for _, tt := range []struct {
		name    string
		status  int
		value   string
		policy  webhook.DefaultRetryPolicy
		attempt int
		want    time.Duration
	}{
		{"seconds lengthen the wait", 429, "300", webhook.DefaultRetryPolicy{}, 1, 5 * time.Minute},
		{"503 too", 503, "120", webhook.DefaultRetryPolicy{}, 1, 2 * time.Minute},
		{"never shortens", 429, "10", webhook.DefaultRetryPolicy{}, 3, 4 * time.Minute},
		{"HTTP date", 503, date(10 * time.Minute), webhook.DefaultRetryPolicy{}, 1, 10 * time.Minute},
		{"obsolete date form", 503, end.Add(10 * time.Minute).Format(time.RFC850), webhook.DefaultRetryPolicy{}, 1, 10 * time.Minute},
		{"capped at 1 hour", 429, "86400", webhook.DefaultRetryPolicy{}, 1, time.Hour},
		{"date capped", 429, date(48 * time.Hour), webhook.DefaultRetryPolicy{}, 1, time.Hour},
		{"own cap", 429, "86400", webhook.DefaultRetryPolicy{MaxRetryAfter: 10 * time.Minute}, 1, 10 * time.Minute},
		{"ignored when disabled", 429, "300", webhook.DefaultRetryPolicy{MaxRetryAfter: -1}, 1, time.Minute},
		{"ignored on 500", 500, "300", webhook.DefaultRetryPolicy{}, 1, time.Minute},
		{"date in the past", 429, date(-time.Hour), webhook.DefaultRetryPolicy{}, 1, time.Minute},
		{"negative", 429, "-300", webhook.DefaultRetryPolicy{}, 1, time.Minute},
		{"fraction", 429, "1.5e3", webhook.DefaultRetryPolicy{}, 1, time.Minute},
		{"huge number", 429, "99999999999999999999999999", webhook.DefaultRetryPolicy{}, 1, time.Hour},
		{"garbage", 429, "soon", webhook.DefaultRetryPolicy{}, 1, time.Minute},
		{"spaces", 429, "  300 ", webhook.DefaultRetryPolicy{}, 1, 5 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := webhook.AttemptResult{Attempt: tt.attempt, StatusCode: tt.status, Header: http.Header{"Retry-After": {tt.value}}, End: end}
			got, ok := tt.policy.NextRetry(r)
			if !ok || got != tt.want {
				t.Errorf("NextRetry(%d, Retry-After %q) = %v, %v; want %v, true", tt.status, tt.value, got, ok, tt.want)
			}
		})
	}
	if d, ok := webhook.RetryAfter(webhook.AttemptResult{StatusCode: 429, Header: http.Header{"Retry-After": {date(90 * time.Second)}}}); ok {
		t.Errorf("RetryAfter without an end time = %v, true; want false for a date", d)
	}
}

func TestRetryAfterDelaysTheRetry(t *testing.T) {
	h := newHarness(t, nil)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "600")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(srv.Close)
	a := h.sendOnce(t, &webhook.Message{ID: "m", URL: srv.URL + "/hook"})
	if a.Outcome != webhook.Retrying || !a.NextAttemptAt.Equal(epoch.Add(10*time.Minute)) {
		t.Fatalf("attempt = %s, next at %v; want retrying 10 minutes later, as the receiver asked", a.Outcome, a.NextAttemptAt)
	}
	h.clock.Advance(9 * time.Minute)
	h.idle(t)
	if n := len(h.attempts(t, webhook.AttemptQuery{})); n != 1 {
		t.Errorf("%d attempts after 9 minutes, want 1", n)
	}
	h.clock.Advance(time.Minute)
	h.idle(t)
	if as := h.attempts(t, webhook.AttemptQuery{}); len(as) != 2 || as[0].Outcome != webhook.Succeeded {
		t.Errorf("after 10 minutes: %+v, want a second, successful attempt", as)
	}
}
