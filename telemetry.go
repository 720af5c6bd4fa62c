package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentation is the name of the Sender's tracer and meter.
const instrumentation = "github.com/hookline/webhook"

// traceContext is the format of Job.Trace and Campaign.Trace, and of the headers that
// Config.PropagateTrace adds: W3C Trace Context, whatever propagator the app set globally, so
// that a trace context saved by one process is read by any other.
var traceContext propagation.TraceContext

// Attribute keys of the Sender's spans and metrics, beyond the semantic conventions'.
const (
	keyJobID          = attribute.Key("webhook.job.id")
	keyMessageID      = attribute.Key("webhook.message.id")
	keyMessageVersion = attribute.Key("webhook.message.version")
	keyAttempt        = attribute.Key("webhook.attempt.number")
	keyOutcome        = attribute.Key("webhook.attempt.outcome")
	keyStatusClass    = attribute.Key("webhook.status_class")
	keyJobState       = attribute.Key("webhook.job.state")
)

// outcomes are the outcomes of the attempts that the executor makes, which the attempt
// metrics are counted by; statusClasses are the classes of their response status, "none" for
// an attempt with no response.
var (
	outcomes      = [...]Outcome{Succeeded, Retrying, Failed, Blocked, Skipped}
	statusClasses = [...]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}
)

// telemetry holds the Sender's OpenTelemetry tracer and instruments (see Config.TracerProvider
// and Config.MeterProvider). It is safe for concurrent use.
type telemetry struct {
	tp        trace.TracerProvider // what tracer comes from
	tracer    trace.Tracer
	propagate bool // Config.PropagateTrace
	meter     metric.Meter

	attempts        metric.Int64Counter
	attemptDuration metric.Float64Histogram
	latency         metric.Float64Histogram
	jobsEnded       metric.Int64Counter
	campaignJobs    metric.Int64Counter
	hooksDropped    metric.Int64Counter
	queueDepth      metric.Int64ObservableGauge
	queueLag        metric.Float64ObservableGauge
	openBreakers    metric.Int64ObservableGauge

	// byOutcome holds the attributes of the attempt metrics, made once: by the index of the
	// outcome in outcomes, then of the status class in statusClasses.
	byOutcome [len(outcomes)][len(statusClasses)]metric.MeasurementOption
}

// newTelemetry returns the tracer and instruments that c asks for. The instruments' names,
// units and attributes are listed in docs/observability.md.
func newTelemetry(c *Config) *telemetry {
	tp, mp := c.TracerProvider, c.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	opts := []trace.TracerOption{trace.WithSchemaURL(semconv.SchemaURL)}
	t := &telemetry{
		tp:        tp,
		tracer:    tp.Tracer(instrumentation, opts...),
		propagate: c.PropagateTrace,
		meter:     mp.Meter(instrumentation, metric.WithSchemaURL(semconv.SchemaURL)),
	}
	m := t.meter
	// A meter returns working no-op instruments with its errors, which the API says to
	// report to otel.Handle.
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	t.attempts, err = m.Int64Counter("webhook.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts recorded in the attempt log, by outcome and response status class."))
	add(err)
	t.attemptDuration, err = m.Float64Histogram("webhook.attempt.duration", metric.WithUnit("s"),
		metric.WithDescription("How long attempts took, on the Sender's Clock, by outcome and response status class."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30))
	add(err)
	t.latency, err = m.Float64Histogram("webhook.job.latency", metric.WithUnit("s"),
		metric.WithDescription("Time from a job's enqueuing to its successful attempt's end, on the Sender's Clock."),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400))
	add(err)
	t.jobsEnded, err = m.Int64Counter("webhook.jobs.ended", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs that ended (succeeded, failed, skipped or cancelled), by state and message."))
	add(err)
	t.campaignJobs, err = m.Int64Counter("webhook.campaign.jobs", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs enqueued by campaign fan-outs, by message."))
	add(err)
	t.hooksDropped, err = m.Int64Counter("webhook.hooks.dropped", metric.WithUnit("{notice}"),
		metric.WithDescription("Notices dropped because the hook queue was full (see Hooks.QueueSize)."))
	add(err)
	t.queueDepth, err = m.Int64ObservableGauge("webhook.queue.depth", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs in the queue, by state: scheduled, running or held. Needs a Store with the QueueReader role."))
	add(err)
	t.queueLag, err = m.Float64ObservableGauge("webhook.queue.lag", metric.WithUnit("s"),
		metric.WithDescription("How long the job that has been due the longest has waited; 0 if none is due. Needs a Store with the QueueReader role."))
	add(err)
	t.openBreakers, err = m.Int64ObservableGauge("webhook.hosts.open_breakers", metric.WithUnit("{host}"),
		metric.WithDescription("Destination hosts whose circuit breaker is open."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		otel.Handle(err)
	}
	for i, o := range outcomes {
		for k, class := range statusClasses {
			t.byOutcome[i][k] = metric.WithAttributeSet(attribute.NewSet(
				keyOutcome.String(string(o)), keyStatusClass.String(class)))
		}
	}
	return t
}

// unsetTracerProvider is otel's global TracerProvider before the app sets one, whose tracers
// make spans that record nothing until it does; nil if a provider was set before this
// package was initialized (another package's init may set one), which is then always traced.
var unsetTracerProvider = func() trace.TracerProvider {
	if tp := otel.GetTracerProvider(); fmt.Sprintf("%T", tp) == "*global.tracerProvider" {
		return tp
	}
	return nil
}()

// tracing reports whether the spans of attempts may record anything: not when the tracer
// comes from a no-op provider, or from otel's global one while the app has set none. An
// attempt that is not traced has the no-op span and the context it began with, which holds
// the same span context as the non-recording span the tracer would make.
func (t *telemetry) tracing() bool {
	switch t.tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return false
	}
	return unsetTracerProvider == nil || t.tp != unsetTracerProvider || otel.GetTracerProvider() != unsetTracerProvider
}

// traceOf returns the trace context of the span active in ctx, for Job.Trace and
// Campaign.Trace, or nil if there is none.
func traceOf(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier
}

// startAttempt starts the span of an attempt that sends req, a client span that follows the
// HTTP semantic conventions, linked to the span that enqueued the job, if any (the no-op span
// when tracing is off). It returns ctx with the span, and adds the span's trace context to
// req's header if Config.PropagateTrace asks for it. req is the attempt's own copy.
func (t *telemetry) startAttempt(ctx context.Context, at *attempt, req *Request) context.Context {
	if t.tracing() {
		ctx = t.startSpan(ctx, at, req)
	} else {
		at.span = trace.SpanFromContext(context.Background())
	}
	if t.propagate {
		traceContext.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return ctx
}

// startSpan starts the span of an attempt that sends req, and returns ctx with it.
func (t *telemetry) startSpan(ctx context.Context, at *attempt, req *Request) context.Context {
	opts := clientSpan[:]
	if link, ok := linkTo(at.job.Trace); ok {
		opts = append(opts[:len(opts):len(opts)], trace.WithLinks(link))
	}
	ctx, at.span = t.tracer.Start(ctx, req.Method, opts...)
	if at.span.IsRecording() {
		at.span.SetAttributes(append(t.attemptAttributes(at),
			semconv.HTTPRequestMethodKey.String(req.Method), semconv.URLFull(redactURL(req.URL)))...)
		if u, err := url.Parse(req.URL); err == nil {
			at.span.SetAttributes(semconv.ServerAddress(u.Hostname()))
			if port, err := strconv.Atoi(u.Port()); err == nil {
				at.span.SetAttributes(semconv.ServerPort(port))
			}
		}
		if at.number > 1 {
			at.span.SetAttributes(semconv.HTTPRequestResendCount(at.number - 1))
		}
	}
	return ctx
}

// clientSpan are the options of every attempt's span, made once.
var clientSpan = [...]trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// attemptAttributes are the attributes of an attempt's span that name it.
func (t *telemetry) attemptAttributes(at *attempt) []attribute.KeyValue {
	return []attribute.KeyValue{
		keyJobID.String(at.job.ID), keyMessageID.String(at.job.MessageID),
		keyMessageVersion.Int(at.job.MessageVersion), keyAttempt.Int(at.number),
	}
}

// linkTo returns a link to the span whose trace context tc holds, if it holds a valid one.
func linkTo(tc map[string]string) (trace.Link, bool) {
	if len(tc) == 0 {
		return trace.Link{}, false
	}
	sc := trace.SpanContextFromContext(traceContext.Extract(context.Background(), propagation.MapCarrier(tc)))
	return trace.Link{SpanContext: sc}, sc.IsValid()
}

// endAttempt ends the span of an attempt that the attempt log records as a, started by
// startAttempt; for an attempt that ended before a request was made (skipped, or failed to
// render), it makes a span that began took ago (the attempt's time so far, on the Clock),
// unless tracing is off.
func (t *telemetry) endAttempt(at *attempt, a *Attempt, err error, took time.Duration) {
	if at.span == nil && !t.tracing() {
		return
	}
	if at.span == nil {
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(time.Now().Add(-took))}
		if link, ok := linkTo(at.job.Trace); ok {
			opts = append(opts, trace.WithLinks(link))
		}
		_, at.span = t.tracer.Start(context.Background(), "webhook attempt", opts...)
		if at.span.IsRecording() {
			at.span.SetAttributes(t.attemptAttributes(at)...)
		}
	}
	span := at.span
	if span.IsRecording() {
		span.SetAttributes(keyOutcome.String(string(a.Outcome)))
		if a.StatusCode != 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(a.StatusCode))
		}
		switch a.Outcome {
		case Succeeded, Skipped:
		default:
			span.SetAttributes(errorType(a.StatusCode, err))
			span.SetStatus(codes.Error, a.Err)
		}
	}
	span.End()
}

// errorType is the error.type attribute of a failed attempt: its response status, or what
// kind of error stopped it.
func errorType(status int, err error) attribute.KeyValue {
	var ne net.Error
	switch {
	case status != 0:
		return semconv.ErrorTypeKey.String(strconv.Itoa(status))
	case errors.As(err, new(*BlockedError)):
		return semconv.ErrorTypeKey.String("blocked")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return semconv.ErrorTypeKey.String("timeout")
	case errors.As(err, new(*RenderError)):
		return semconv.ErrorTypeKey.String("render")
	}
	return semconv.ErrorType(err)
}

// recordAttempt counts an attempt recorded in the attempt log, and the latency of its job if
// it succeeded.
func (t *telemetry) recordAttempt(ctx context.Context, j *Job, a *Attempt) {
	if !t.attempts.Enabled(ctx) && !t.attemptDuration.Enabled(ctx) && !t.latency.Enabled(ctx) {
		return
	}
	o := -1
	for i, known := range outcomes {
		if a.Outcome == known {
			o = i
		}
	}
	if o < 0 {
		return // not an outcome of the executor's
	}
	class := 0
	if c := a.StatusCode / 100; c >= 1 && c <= 5 {
		class = c
	}
	attrs := t.byOutcome[o][class]
	t.attempts.Add(ctx, 1, attrs)
	t.attemptDuration.Record(ctx, a.Duration.Seconds(), attrs)
	if a.Outcome == Succeeded {
		t.latency.Record(ctx, a.Time.Add(a.Duration).Sub(j.CreatedAt).Seconds())
	}
}

// recordJobEnded counts a job that ended.
func (t *telemetry) recordJobEnded(ctx context.Context, state JobState, messageID string) {
	if t.jobsEnded.Enabled(ctx) {
		t.jobsEnded.Add(ctx, 1, metric.WithAttributes(keyJobState.String(string(state)), keyMessageID.String(messageID)))
	}
}

// recordCampaignJobs counts n jobs enqueued by a fan-out of the campaign of messageID.
func (t *telemetry) recordCampaignJobs(ctx context.Context, messageID string, n int) {
	if n > 0 && t.campaignJobs.Enabled(ctx) {
		t.campaignJobs.Add(ctx, int64(n), metric.WithAttributes(keyMessageID.String(messageID)))
	}
}

// queueTimeout bounds the Store read of each collection of the queue gauges.
const queueTimeout = 5 * time.Second

// observeQueue registers the callback of the gauges, which reads the queue from store (if it
// is a [QueueReader]) and the open breakers from openBreakers at each collection, until the
// returned function is called. A Sender registers it while it is started.
func (t *telemetry) observeQueue(store Store, clock Clock, openBreakers func() int, onError func(error)) (unregister func()) {
	qr, _ := store.(QueueReader)
	observed := []metric.Observable{t.openBreakers}
	if qr != nil {
		observed = append(observed, t.queueDepth, t.queueLag)
	}
	reg, err := t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		o.ObserveInt64(t.openBreakers, int64(openBreakers()))
		if qr == nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, queueTimeout)
		defer cancel()
		now := clock.Now()
		st, err := qr.QueueStats(ctx, QueueStatsParams{Now: now})
		if err != nil {
			onError(err)
			return nil // the other gauges are still good
		}
		for _, s := range []struct {
			state JobState
			n     int64
		}{{JobScheduled, st.Scheduled}, {JobRunning, st.Running}, {JobHeld, st.Held}} {
			o.ObserveInt64(t.queueDepth, s.n, metric.WithAttributes(keyJobState.String(string(s.state))))
		}
		lag := 0.0
		if !st.OldestDue.IsZero() && st.OldestDue.Before(now) {
			lag = now.Sub(st.OldestDue).Seconds()
		}
		o.ObserveFloat64(t.queueLag, lag)
		return nil
	}, observed...)
	if err != nil {
		otel.Handle(err)
		return func() {}
	}
	return func() {
		if err := reg.Unregister(); err != nil {
			otel.Handle(err)
		}
	}
}
