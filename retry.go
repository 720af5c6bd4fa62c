package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// AttemptResult is how one attempt to send a job ended, as a [RetryPolicy] sees it.
type AttemptResult struct {
	// Attempt is the attempt's number: 1 for the first. A job replayed after it ended
	// ([Sender.Replay]) counts again from 1 (its Attempt.Number goes on), so that a replay
	// gets the retries of a new job.
	Attempt int
	// StatusCode is the response's HTTP status, or 0 if there was no response.
	StatusCode int
	// Header is the response's header, or nil if there was no response.
	Header http.Header
	// Err is the network error or timeout that ended the attempt, or nil if there was a
	// response.
	Err error
	// End is when the attempt ended, on the Sender's Clock: the time a Retry-After date is
	// counted from (see [RetryAfter]). The next attempt is due at End plus the wait.
	End time.Time
}

// RetryPolicy decides whether and when a job whose attempt did not succeed is tried
// again. It is asked only about attempts that reached the network: jobs that cannot be
// rendered, or whose address is refused by the private-address guard, fail at once.
//
// Implementations must be safe for concurrent use.
type RetryPolicy interface {
	// NextRetry returns how long after the attempt ended the next one is due, and false if
	// the job has failed for good.
	NextRetry(r AttemptResult) (wait time.Duration, retry bool)
}

// DefaultRetryPolicy is the standard retry policy. It retries the attempts that [Retryable]
// reports, and no others; with its zero value it makes at most 5 retries (6 attempts),
// waiting 1, 2, 4, 8 and 16 minutes.
//
// A 429 or 503 response's Retry-After header can only lengthen a wait, never shorten it, and
// is believed up to MaxRetryAfter (see [RetryAfter]).
//
// The waits are an exponential backoff computed with github.com/cenkalti/backoff/v4. They
// depend only on the attempt number and Retry-After, so a retry is a job row in the
// Store with a due time (the attempt's time on the Sender's Clock plus the wait), never a
// sleeping goroutine.
type DefaultRetryPolicy struct {
	// MaxRetries is the most retries after the first attempt. Defaults to 5; negative means
	// no retries.
	MaxRetries int
	// InitialInterval is the wait before the first retry. Defaults to 1 minute.
	InitialInterval time.Duration
	// Multiplier multiplies the wait after each retry. Defaults to 2.
	Multiplier float64
	// MaxInterval caps each wait. Defaults to 1 hour.
	MaxInterval time.Duration
	// Jitter spreads each wait at random by up to this fraction either way (0.1 for ±10%),
	// so that many jobs failing together do not retry together. Defaults to 0: no
	// jitter.
	Jitter float64
	// MaxRetryAfter caps how long a Retry-After header can make a wait: a receiver asking
	// for more is retried after MaxRetryAfter (or the standard wait, if longer). Defaults to
	// 1 hour; negative means Retry-After is ignored.
	MaxRetryAfter time.Duration
}

// NextRetry implements [RetryPolicy].
func (p DefaultRetryPolicy) NextRetry(r AttemptResult) (time.Duration, bool) {
	if !Retryable(r) {
		return 0, false
	}
	maxRetries := p.MaxRetries
	switch {
	case maxRetries < 0:
		return 0, false
	case maxRetries == 0:
		maxRetries = 5
	}
	b := backoff.WithMaxRetries(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(orDefault(p.InitialInterval, time.Minute)),
		backoff.WithMultiplier(orDefault(p.Multiplier, 2)),
		backoff.WithMaxInterval(orDefault(p.MaxInterval, time.Hour)),
		backoff.WithRandomizationFactor(p.Jitter),
		backoff.WithMaxElapsedTime(0), // the default (15 minutes) would end the schedule early
	), uint64(maxRetries))
	wait := backoff.Stop
	for range r.Attempt {
		if wait = b.NextBackOff(); wait == backoff.Stop {
			return 0, false
		}
	}
	if p.MaxRetryAfter >= 0 {
		if after, ok := RetryAfter(r); ok {
			wait = max(wait, min(after, orDefault(p.MaxRetryAfter, time.Hour)))
		}
	}
	return wait, true
}

// maxRetryAfterSeconds bounds the seconds RetryAfter accepts, so that converting them to a
// Duration cannot overflow; it is far beyond any cap a policy would apply.
const maxRetryAfterSeconds = 10 * 365 * 24 * 60 * 60

// RetryAfter returns the wait that a 429 (Too Many Requests) or 503 (Service Unavailable)
// response asks for in its Retry-After header, counted from r.End: a number of seconds, or
// an HTTP date. It returns false for other statuses, for a missing or malformed header, and
// for a wait that is not positive (a date in the past). It never returns more than ten years.
func RetryAfter(r AttemptResult) (time.Duration, bool) {
	if r.StatusCode != http.StatusTooManyRequests && r.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	return parseRetryAfter(r.Header.Get("Retry-After"), r.End)
}

// parseRetryAfter parses a Retry-After value, seconds or an HTTP date, as a wait from now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var wait time.Duration
	if '0' <= v[0] && v[0] <= '9' {
		// delay-seconds is 1*DIGIT; ParseUint would also take "+1" and "0x10".
		if strings.TrimLeft(v, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > maxRetryAfterSeconds {
			n = maxRetryAfterSeconds // too many digits to parse is a very long wait
		}
		wait = time.Duration(n) * time.Second
	} else {
		t, err := http.ParseTime(v)
		if err != nil || now.IsZero() {
			return 0, false
		}
		wait = min(t.Sub(now), maxRetryAfterSeconds*time.Second)
	}
	if wait <= 0 {
		return 0, false
	}
	return wait, true
}

// Retryable reports whether the standard policy retries an attempt that ended as r: HTTP 408,
// 409, 429 and 500–599, and network errors and timeouts.
func Retryable(r AttemptResult) bool {
	switch {
	case r.StatusCode == 0:
		return r.Err != nil
	case r.StatusCode == http.StatusRequestTimeout, r.StatusCode == http.StatusConflict,
		r.StatusCode == http.StatusTooManyRequests:
		return true
	default:
		return r.StatusCode >= 500 && r.StatusCode <= 599
	}
}

// orDefault returns v, or def if v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
