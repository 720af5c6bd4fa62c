package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/hookline/webhook/internal/hostlimit"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a [Sender]. The zero Config, or nil, gives every default.
type Config struct {
	// Clock tells the time and wakes the Sender when jobs come due. Tests use
	// webhooktest.FakeClock. Defaults to the system clock.
	Clock Clock
	// HTTPClient sends the requests. Its CheckRedirect is replaced so that redirects are never
	// followed, and it is used as given otherwise: the private-address guard is part of the
	// default client's transport only (see [Dialer] to keep it with your own). Defaults to a
	// client whose transport dials through a Dialer with AllowNetworks, uses no proxy, does
	// not ask for compressed responses, and reads at most 64 KiB of response headers (more
	// fails the attempt as a network error does).
	HTTPClient *http.Client
	// Logger receives structured logs: attempts and jobs held back at debug level; retries
	// and skipped jobs at info; jobs that fail for good or are blocked, lost leases and paused
	// hosts at warn; Store errors at error. Secrets are never logged. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Workers is how many jobs are sent at once. Defaults to 16.
	Workers int
	// RetryPolicy decides which failed attempts are retried and when. Defaults to
	// [DefaultRetryPolicy]{}.
	RetryPolicy RetryPolicy
	// AllowNetworks are address ranges the private-address guard lets the default client
	// reach, such as 127.0.0.0/8 for tests and local development. Defaults to none.
	AllowNetworks []netip.Prefix
	// RequestTimeout bounds each attempt, from dialing to the end of the response body, in
	// real time. Defaults to 30 seconds.
	RequestTimeout time.Duration
	// MissingAsEmpty renders a missing template variable as empty instead of failing the
	// job; in a JSON body, a Data value that is only the missing variable is null, as a
	// one-expression value keeps its type. Defaults to false.
	MissingAsEmpty bool
	// UserAgent is the User-Agent header of requests whose message sets none. Defaults to
	// "hookline-webhook/1".
	UserAgent string
	// MaxResponseBody is how many bytes of each response body the attempt log keeps.
	// Defaults to 16 KiB.
	MaxResponseBody int
	// Lease is how long a claimed job stays leased to this Sender; if the Sender dies,
	// another one may send it after the lease expires. It must exceed RequestTimeout.
	// Defaults to RequestTimeout plus 1 minute.
	//
	// A lease of at least twice RequestTimeout (the default's, for timeouts up to a minute)
	// lets the Sender claim ahead: it holds up to twice Workers jobs and asks the Store for
	// about Workers at a time, rather than for one each time a worker frees up, which saves a
	// durable Store most of its claim writes. On the system clock it asks for at least 32 at
	// a time (but no more than twice Workers), and holds that many more and four times Workers
	// more again (at most 256): room for the jobs whose requests went out and whose outcomes
	// wait a few milliseconds to be written together, so that the workers go on meanwhile. It
	// holds at most eight times Workers in all. A job held for longer than half of (Lease -
	// RequestTimeout) is put back unsent, so that it starts with RequestTimeout and a margin
	// of its lease left; Stop puts back those no worker started.
	Lease time.Duration
	// PollInterval is how often an idle Sender checks the Store for jobs that other Senders
	// enqueued, and how often any Sender checks it for campaigns that other Senders
	// started or resumed (a Sender whose workers are all sending checks when the next send
	// ends, within RequestTimeout). Jobs enqueued and campaigns started by this Sender
	// wake it at once, and so do those of other Senders if the Store is a [Notifier] that
	// notifies them. Defaults to 1 second.
	PollInterval time.Duration
	// ID names this Sender in leases and logs. Defaults to a random ID.
	ID string
	// DefaultTimeZone is the time zone of users whose User.TimeZone is empty, for jobs
	// at a local time and for quiet hours. Defaults to UTC.
	DefaultTimeZone *time.Location
	// HostRate is how many requests per second, on average, the Sender sends to one
	// destination host (and port); jobs held back wait in the Store, due when they may go,
	// and are not counted as attempts. Defaults to 50; negative means no limit.
	HostRate float64
	// HostBurst is how many requests to one host may go at once before HostRate applies.
	// Defaults to 10.
	HostBurst int
	// BreakerThreshold is how many attempts in a row to one host may fail (those that
	// [Retryable] reports) before the host is paused for BreakerCooldown:
	// jobs to a paused host wait in the Store, not counted as attempts, instead of
	// using up their retries. After the cool-down, one more failure pauses it again; a
	// success closes the breaker. Defaults to 20; negative means no breaker.
	BreakerThreshold int
	// BreakerCooldown is how long a host is paused. Defaults to 1 minute.
	BreakerCooldown time.Duration
	// SensitiveHeaders are more header names whose values are redacted from the attempt log
	// and logs, beyond those that [Request.Redacted] redacts (Authorization and Cookie among
	// them). Case does not matter. Defaults to none.
	SensitiveHeaders []string
	// Caps limit how many messages each user is sent across all messages, such as at most
	// 3 in any 24 hours and 10 in any 7 days: []Cap{{3, 24 * time.Hour}, {10, 7 * 24 *
	// time.Hour}}. A job of any kind that would exceed a cap when it comes due is not
	// sent: it is logged as Skipped. Messages with Delivery.IgnoreCaps are exempt. Defaults to
	// none: no cap.
	Caps []Cap
	// QuietHours is a daily period, in each user's time zone, during which jobs are held and
	// sent when it ends. Messages with Delivery.IgnoreQuietHours are exempt.
	// Defaults to none.
	QuietHours QuietHours
	// Hooks are the host app's functions called when attempts are recorded, jobs end,
	// campaigns change state and host breakers open or close, off the path of the jobs.
	// Defaults to none.
	Hooks Hooks
	// SystemWebhook is an endpoint to which the Sender forwards what it reports to Hooks, as
	// signed webhooks sent through its job queue. Defaults to none.
	SystemWebhook *SystemWebhook
	// TracerProvider gives the tracer of the attempts' spans: one per attempt, a client span
	// in the HTTP semantic conventions, linked to the span that was active when its job was
	// enqueued. Defaults to otel.GetTracerProvider(), which does nothing until the app sets
	// one.
	TracerProvider trace.TracerProvider
	// MeterProvider gives the meter of the Sender's metrics (listed in
	// docs/observability.md). Defaults to otel.GetMeterProvider(), which does nothing until the app sets
	// one.
	MeterProvider metric.MeterProvider
	// PropagateTrace adds the traceparent and tracestate headers of each attempt's span to
	// its request, so that the receiver's trace can continue it. Defaults to false: no trace
	// ID leaves for the receiver.
	PropagateTrace bool
	// OnResponse, if set, is called with the response to every attempt that got a 2xx
	// status, before the attempt is recorded: for an app that acts on responses in its own
	// code (Message.UpdateProfile does the common case, merging the response into the
	// user's attributes). An error it returns fails the attempt, which is retried as the
	// RetryPolicy says of a network error, and logged with the error. It is called from
	// the Sender's workers, one call per attempt, so it must be safe for concurrent use, and
	// a worker waits while it runs. If the process dies after it returns and before the
	// attempt is recorded, the job is sent again and OnResponse called again for it: make it
	// idempotent, with Response.JobID. Defaults to nil.
	OnResponse func(ctx context.Context, r *Response) error
}

// Defaults of the Config fields that have one.
const (
	defaultWorkers          = 16
	defaultRequestTimeout   = 30 * time.Second
	defaultPollInterval     = time.Second
	defaultMaxResponseBody  = 16 << 10
	defaultUserAgent        = "hookline-webhook/1"
	defaultHostRate         = 50
	defaultHostBurst        = 10
	defaultBreakerThreshold = 20
	defaultBreakerCooldown  = time.Minute
	// maxResponseHeaderBytes bounds the response headers the default client reads.
	maxResponseHeaderBytes = 64 << 10
)

// validate returns a *ValidationError listing every problem of c.
func (c *Config) validate() error {
	var ps problems
	for _, f := range []struct {
		name string
		v    int64
	}{ // in the order of Config's fields, so that problems are listed in that order
		{"Workers", int64(c.Workers)}, {"RequestTimeout", int64(c.RequestTimeout)},
		{"MaxResponseBody", int64(c.MaxResponseBody)}, {"Lease", int64(c.Lease)},
		{"PollInterval", int64(c.PollInterval)}, {"HostBurst", int64(c.HostBurst)},
		{"BreakerCooldown", int64(c.BreakerCooldown)},
	} {
		if f.v < 0 {
			ps.add(f.name, "must not be negative")
		}
	}
	if lease, timeout := c.lease(), c.timeout(); lease <= timeout {
		ps.add("Lease", "%v does not exceed RequestTimeout (%v)", lease, timeout)
	}
	validateCaps(c.Caps, &ps)
	c.QuietHours.validate(&ps)
	c.Hooks.validate(&ps)
	c.SystemWebhook.validate(&ps)
	if hasLineBreak(c.UserAgent) {
		ps.add("UserAgent", "contains a line break")
	}
	return ps.err("Config")
}

// timeout returns RequestTimeout with its default applied.
func (c *Config) timeout() time.Duration { return orDefault(c.RequestTimeout, defaultRequestTimeout) }

// lease returns Lease with its default applied.
func (c *Config) lease() time.Duration { return orDefault(c.Lease, c.timeout()+time.Minute) }

// hostLimits returns the host rate limits and breakers that c asks for.
func (c *Config) hostLimits() *hostlimit.Limits {
	return hostlimit.New(hostlimit.Config{
		Rate:      orDefault(c.HostRate, defaultHostRate),
		Burst:     orDefault(c.HostBurst, defaultHostBurst),
		Threshold: orDefault(c.BreakerThreshold, defaultBreakerThreshold),
		Cooldown:  orDefault(c.BreakerCooldown, defaultBreakerCooldown),
	})
}

// newClient returns the client requests are sent with: c.HTTPClient, or the default guarded
// client, never following redirects; and the default client's transport, or nil if
// c.HTTPClient is set.
func (c *Config) newClient(workers int) (*http.Client, *http.Transport) {
	var client http.Client
	var own *http.Transport
	if c.HTTPClient != nil {
		client = *c.HTTPClient
	} else {
		d := &Dialer{AllowNetworks: c.AllowNetworks}
		own = &http.Transport{
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   workers,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
			// Go's default lets a receiver make each attempt hold 10 MiB of headers.
			MaxResponseHeaderBytes: maxResponseHeaderBytes,
		}
		client.Transport = own
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client, own
}
