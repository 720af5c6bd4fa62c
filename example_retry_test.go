package webhook_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hookline/webhook"
)

// The standard policy's schedule, and a Retry-After header on a 429 or 503 lengthening a wait.
func ExampleDefaultRetryPolicy() {
	var p webhook.DefaultRetryPolicy
	for n := 1; n <= 6; n++ {
		wait, ok := p.NextRetry(webhook.AttemptResult{Attempt: n, StatusCode: http.StatusServiceUnavailable})
		fmt.Printf("after attempt %d (503): retry %v, in %v\n", n, ok, wait)
	}
	_, ok := p.NextRetry(webhook.AttemptResult{Attempt: 1, StatusCode: http.StatusGone})
	fmt.Println("after a 410: retry", ok)

	slow := webhook.AttemptResult{Attempt: 1, StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"300"}}}
	wait, _ := p.NextRetry(slow)
	fmt.Println("after a 429 with Retry-After: 300:", wait)

	quick := webhook.DefaultRetryPolicy{InitialInterval: time.Second, MaxRetries: 2}
	wait, ok = quick.NextRetry(webhook.AttemptResult{Attempt: 2, StatusCode: http.StatusBadGateway})
	fmt.Println("shorter policy, after attempt 2:", ok, wait)
	// Output:
	// after attempt 1 (503): retry true, in 1m0s
	// after attempt 2 (503): retry true, in 2m0s
	// after attempt 3 (503): retry true, in 4m0s
	// after attempt 4 (503): retry true, in 8m0s
	// after attempt 5 (503): retry true, in 16m0s
	// after attempt 6 (503): retry false, in 0s
	// after a 410: retry false
	// after a 429 with Retry-After: 300: 5m0s
	// shorter policy, after attempt 2: true 2s
}

// RetryAfter reads the wait a 429 or 503 response asks for, in seconds or as an HTTP date
// counted from the end of the attempt.
func ExampleRetryAfter() {
	end := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, r := range []webhook.AttemptResult{
		{StatusCode: 503, Header: http.Header{"Retry-After": {"120"}}, End: end},
		{StatusCode: 429, Header: http.Header{"Retry-After": {"Mon, 23 Nov 2026 09:10:00 GMT"}}, End: end},
		{StatusCode: 500, Header: http.Header{"Retry-After": {"120"}}, End: end},
		{StatusCode: 503, Header: http.Header{"Retry-After": {"soon"}}, End: end},
	} {
		wait, ok := webhook.RetryAfter(r)
		fmt.Println(r.StatusCode, r.Header.Get("Retry-After"), "->", wait, ok)
	}
	// Output:
	// 503 120 -> 2m0s true
	// 429 Mon, 23 Nov 2026 09:10:00 GMT -> 10m0s true
	// 500 120 -> 0s false
	// 503 soon -> 0s false
}
