package webhook

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Outcome is how an attempt ended.
type Outcome string

const (
	// Succeeded: the receiver answered with a 2xx status.
	Succeeded Outcome = "succeeded"
	// Retrying: the attempt failed and the job will be tried again at NextAttemptAt.
	Retrying Outcome = "retrying"
	// Failed: the attempt failed and the job will not be tried again.
	Failed Outcome = "failed"
	// Blocked: the private-address guard refused the destination; the job failed.
	Blocked Outcome = "blocked"
	// Skipped: the job was not sent because a rule said so when it came due (the user
	// left the audience, a cap was reached, the user is in the control group of an A/B
	// test); no request was made.
	Skipped Outcome = "skipped"
	// Cancelled: the job was cancelled before it was sent (its campaign was cancelled,
	// or an "unless" event arrived); no request was made.
	Cancelled Outcome = "cancelled"
)

// Attempt is one try to send a job, as kept in the attempt log (the "notifications log"
// of engagement platforms). Credentials are redacted from its URL and headers (see
// [Request.Redacted]).
type Attempt struct {
	// JobID identifies the job, and is the webhook-id header the receiver saw.
	JobID string `json:"job_id"`
	// MessageID and MessageVersion identify the message sent.
	MessageID      string `json:"message_id"`
	MessageVersion int    `json:"message_version,omitempty"`
	// UserID is the user the job was for.
	UserID string `json:"user_id"`
	// Variant is the job's variant (see Job.Variant), or empty.
	Variant string `json:"variant,omitempty"`
	// Test marks the attempt of a test send ([Sender.TestSend]): it has no job in the queue,
	// and counts toward no cap.
	Test bool `json:"test,omitempty"`
	// Number counts the job's attempts from 1.
	Number int `json:"number"`
	// Time is when the attempt started, on the Sender's Clock.
	Time time.Time `json:"time"`
	// Duration is how long it took, on the Sender's Clock.
	Duration time.Duration `json:"duration"`
	// Method, URL, RequestHeader and RequestBody are the request, with credentials redacted.
	// They are empty if the job could not be rendered.
	Method        string      `json:"method,omitempty"`
	URL           string      `json:"url,omitempty"`
	RequestHeader http.Header `json:"request_header,omitempty"`
	RequestBody   string      `json:"request_body,omitempty"`
	// StatusCode is the response's status, or 0 if there was no response.
	StatusCode int `json:"status_code,omitempty"`
	// ResponseHeader and ResponseBody are the response's. The body is cut at
	// Config.MaxResponseBody bytes; the header keeps, in the order of the names, its first 100
	// values and 16 KiB of names and values, the last value kept being cut to fit.
	ResponseHeader http.Header `json:"response_header,omitempty"`
	ResponseBody   string      `json:"response_body,omitempty"`
	// Err says why the attempt did not succeed; empty if it did.
	Err string `json:"error,omitempty"`
	// Outcome is how the attempt ended.
	Outcome Outcome `json:"outcome"`
	// NextAttemptAt is when the job will be tried again, if Outcome is Retrying.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// IgnoreCaps is set on attempts of a message whose Delivery.IgnoreCaps is set; they do
	// not count toward Config.Caps (see [Cap]).
	IgnoreCaps bool `json:"ignore_caps,omitempty"`
	// Host is the host of URL, lower-case, with its port if the URL names one: the host whose
	// rate limit and circuit breaker the attempt went through. It is empty if the job could
	// not be rendered.
	Host string `json:"host,omitempty"`
	// Replay marks an attempt of a job that [Sender.Replay] or [Sender.RetryJob] put back in
	// the queue after it ended.
	Replay bool `json:"replay,omitempty"`
	// Seq orders the attempt log: an attempt recorded later has a greater Seq. The Store sets
	// it when it records the attempt, and [Inspector.FindAttempts] returns it; it is 0 where a
	// Store does not return it, and in attempts passed to the Store.
	Seq int64 `json:"seq,omitempty"`
}

// What the attempt log keeps of a response header (see Attempt.ResponseHeader): a receiver
// cannot make the Sender hold more than this in an attempt.
const (
	maxLoggedHeaderValues = 100
	maxLoggedHeaderBytes  = 16 << 10
)

// logHeader returns what the attempt log keeps of h: h itself if it is within the limits,
// else a copy of its first values in the order of the names, which shares no memory with h.
func logHeader(h http.Header) http.Header {
	n, size := 0, 0
	for k, vs := range h {
		n += len(vs)
		for _, v := range vs {
			size += len(k) + len(v)
		}
	}
	if n <= maxLoggedHeaderValues && size <= maxLoggedHeaderBytes {
		return h
	}
	out := make(http.Header)
	n, size = 0, 0
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			room := maxLoggedHeaderBytes - size - len(k)
			if n == maxLoggedHeaderValues || room <= 0 {
				return out
			}
			v = v[:min(len(v), room)]
			out[k] = append(out[k], strings.Clone(v))
			n, size = n+1, size+len(k)+len(v)
		}
	}
	return out
}
