package webhook_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// newTracing returns a tracer provider that keeps the spans it ends in memory.
func newTracing(tb testing.TB) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// attrs returns the attributes of a span by key, as strings.
func attrs(kvs []attribute.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// TestAttemptSpanLinksToTheEnqueuingSpan checks that each way of enqueuing a job under a span
// (Trigger, TriggerMany, Send, StartCampaign, and Trigger through a Tx) stores its trace
// context with the job (or with the campaign, whose fan-out gives it to the job), and that
// the attempt's span, made by another Sender on the same Store that was never started (as
// after a restart, or in another process), is a client span linked to it, with the attributes of the HTTP semantic conventions and of the job. The
// request carries no traceparent: the Sender was not asked to propagate it.
//
// The link is read from Job.Trace, which storetest checks every Store keeps; sqlitestore's
// TestTraceLinkSurvivesARestart reopens the database in between. pgstore, not yet ported to
// the v2 Store contract, has no such test.
func TestAttemptSpanLinksToTheEnqueuingSpan(t *testing.T) {
	u := webhook.User{ID: "u1"}
	cases := []struct {
		name    string
		kind    webhook.DeliveryKind
		enqueue func(ctx context.Context, s *webhook.Sender, store webhook.Store) error
	}{
		{"Trigger", webhook.Triggered, func(ctx context.Context, s *webhook.Sender, _ webhook.Store) error {
			return s.Trigger(ctx, webhook.Event{UserID: u.ID, Name: "signup"})
		}},
		{"TriggerMany", webhook.Triggered, func(ctx context.Context, s *webhook.Sender, _ webhook.Store) error {
			return s.TriggerMany(ctx, []webhook.Event{{UserID: u.ID, Name: "signup"}})
		}},
		{"Send", webhook.Manual, func(ctx context.Context, s *webhook.Sender, _ webhook.Store) error {
			_, err := s.Send(ctx, "m", u.ID, nil, nil)
			return err
		}},
		{"StartCampaign", webhook.Immediate, func(ctx context.Context, s *webhook.Sender, _ webhook.Store) error {
			return s.StartCampaign(ctx, "m")
		}},
		{"Tx.Trigger", webhook.Triggered, func(ctx context.Context, s *webhook.Sender, store webhook.Store) error {
			return s.InTx(store).Trigger(ctx, webhook.Event{UserID: u.ID, Name: "signup"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			store := memstore.New()
			recv := webhooktest.NewReceiver(t)
			appTP, _ := newTracing(t)
			first, _ := webhooktest.NewSender(t, store, &webhook.Config{TracerProvider: appTP})
			m := &webhook.Message{ID: "m", URL: recv.URL + "/hook", Delivery: webhook.Delivery{Kind: tc.kind}}
			if tc.kind == webhook.Triggered {
				m.Delivery.Event = "signup"
			}
			if err := first.SaveMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := first.Identify(ctx, u); err != nil {
				t.Fatal(err)
			}
			reqCtx, parent := appTP.Tracer("app").Start(ctx, "POST /signup")
			if err := tc.enqueue(reqCtx, first, store); err != nil {
				t.Fatal(err)
			}
			parent.End()

			tp, spans := newTracing(t)
			second, clock2 := webhooktest.NewSender(t, store, &webhook.Config{TracerProvider: tp})
			webhooktest.Start(t, second)
			if err := clock2.BlockUntil(ctx, 1); err != nil {
				t.Fatal(err)
			}
			reqs := recv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("the receiver got %d requests, want 1", len(reqs))
			}
			if got := reqs[0].Header.Get("Traceparent"); got != "" {
				t.Errorf("the request carries traceparent %q, want none without PropagateTrace", got)
			}
			jobs, err := store.Jobs(ctx, webhook.JobQuery{})
			if err != nil || len(jobs) != 1 {
				t.Fatalf("Jobs = %v, %v; want one job", jobs, err)
			}
			if tp := jobs[0].Trace["traceparent"]; !strings.Contains(tp, parent.SpanContext().TraceID().String()) {
				t.Errorf("the job's Trace = %v, want the traceparent of the span %s", jobs[0].Trace, parent.SpanContext().TraceID())
			}
			ended := spans.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans ended, want 1 for the attempt", len(ended))
			}
			s := ended[0]
			if s.Name() != "POST" || s.SpanKind() != trace.SpanKindClient {
				t.Errorf("span %q of kind %v, want POST of kind client", s.Name(), s.SpanKind())
			}
			if s.Parent().IsValid() {
				t.Errorf("the attempt's span has parent %v, want none: it links to the span that enqueued it", s.Parent())
			}
			if len(s.Links()) != 1 || !s.Links()[0].SpanContext.Equal(parent.SpanContext().WithRemote(true)) {
				t.Errorf("the attempt's span links to %+v, want the span that enqueued the job, %+v", s.Links(), parent.SpanContext())
			}
			got := attrs(s.Attributes())
			want := map[string]string{
				"http.request.method":       "POST",
				"url.full":                  recv.URL + "/hook",
				"server.address":            "127.0.0.1",
				"server.port":               strings.TrimPrefix(recv.URL[strings.LastIndex(recv.URL, ":"):], ":"),
				"http.response.status_code": "200",
				"webhook.job.id":            jobs[0].ID,
				"webhook.message.id":        "m",
				"webhook.message.version":   "1",
				"webhook.attempt.number":    "1",
				"webhook.attempt.outcome":   "succeeded",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the attempt's span attributes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAttemptSpansOfRetriesAndSkips checks the spans of a failed attempt and its retry, of a
// job skipped before any request (a span without one, from the start of the attempt), and
// that PropagateTrace sends the attempt's own trace context, which the request saved for the
// retry does not keep.
func TestAttemptSpansOfRetriesAndSkips(t *testing.T) {
	tp, spans := newTracing(t)
	h := newHarness(t, &webhook.Config{TracerProvider: tp, PropagateTrace: true})
	h.recv.Reply(http.StatusServiceUnavailable)
	h.identify(t, webhook.User{ID: "u1", Attributes: map[string]any{"plan": "free"}})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	h.save(t, &webhook.Message{ID: "gold", URL: h.recv.URL + "/gold", Audience: webhook.Attr("plan", webhook.OpEq, "gold")})
	id := h.sendN(t, "m", 1)[0]
	h.idle(t)
	// The request saved for the retry carries no trace context of the first attempt: each
	// attempt adds its own.
	if j, err := getJob(h.ctx, h.store, id); err != nil || j.Request == nil || j.Request.Header.Get("Traceparent") != "" {
		t.Fatalf("job waiting for its retry = %+v, %v; want its request saved without a traceparent", j, err)
	}
	h.advance(t, time.Minute)
	if _, err := h.sender.Send(h.ctx, "gold", "u1", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.idle(t)

	ended := spans.Ended()
	if len(ended) != 3 {
		t.Fatalf("%d spans ended, want 3: two attempts and a skip", len(ended))
	}
	type span struct {
		Name, Outcome, Status, ErrorType, Resend string
		Code                                     codes.Code
	}
	var got []span
	for _, s := range ended {
		a := attrs(s.Attributes())
		got = append(got, span{s.Name(), a["webhook.attempt.outcome"], a["http.response.status_code"], a["error.type"], a["http.request.resend_count"], s.Status().Code})
	}
	want := []span{
		{"POST", "retrying", "503", "503", "", codes.Error},
		{"POST", "succeeded", "200", "", "1", codes.Unset},
		{"webhook attempt", "skipped", "", "", "", codes.Unset},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	reqs := h.recv.Requests()
	for i, r := range reqs {
		sc := ended[i].SpanContext()
		if tp := r.Header.Get("Traceparent"); tp != "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01" {
			t.Errorf("request %d carries traceparent %q, want that of its attempt's span %s/%s", i, tp, sc.TraceID(), sc.SpanID())
		}
	}
	if a := attrs(ended[0].Attributes()); a["webhook.job.id"] != id {
		t.Errorf("the first span is of job %q, want %q", a["webhook.job.id"], id)
	}
}

// collect returns the metrics that reader has, by name.
func collect(tb testing.TB, reader *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// points returns the points of a sum or gauge as "attributes=value", sorted, and of a
// histogram as "attributes=count/sum".
func points(tb testing.TB, data metricdata.Aggregation) []string {
	tb.Helper()
	var out []string
	key := func(s attribute.Set) string {
		var kv []string
		for _, a := range s.ToSlice() {
			kv = append(kv, string(a.Key)+":"+a.Value.Emit())
		}
		return strings.Join(kv, ",")
	}
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, key(p.Attributes)+"="+formatNumber(float64(p.Value)))
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, key(p.Attributes)+"="+formatNumber(float64(p.Value)))
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out = append(out, key(p.Attributes)+"="+formatNumber(p.Value))
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, key(p.Attributes)+"="+formatNumber(float64(p.Count))+"/"+formatNumber(p.Sum))
		}
	case nil:
	default:
		tb.Fatalf("unexpected metric data %T", data)
	}
	slices.Sort(out)
	return out
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// TestMetricsOfAScriptedRun checks each metric's value after a run with a 503 then a 200, a
// 410, a job skipped by its audience, a breaker opening on a host that keeps failing, jobs
// cancelled, and a campaign.
func TestMetricsOfAScriptedRun(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h := newHarness(t, &webhook.Config{MeterProvider: mp, Workers: 1, BreakerThreshold: 2, BreakerCooldown: 10 * time.Minute})
	gone, down := webhooktest.NewReceiver(t), webhooktest.NewReceiver(t)
	gone.SetStatus(http.StatusGone)
	down.SetStatus(http.StatusServiceUnavailable)
	h.recv.Reply(http.StatusServiceUnavailable)
	h.identify(t, webhook.User{ID: "u1", Attributes: map[string]any{"plan": "free"}})
	h.save(t, &webhook.Message{ID: "retry", URL: h.recv.URL + "/retry"})
	h.save(t, &webhook.Message{ID: "gone", URL: gone.URL + "/gone"})
	h.save(t, &webhook.Message{ID: "gold", URL: h.recv.URL + "/gold", Audience: webhook.Attr("plan", webhook.OpEq, "gold")})
	h.save(t, &webhook.Message{ID: "down", URL: down.URL + "/down"})
	h.save(t, &webhook.Message{ID: "camp", URL: h.recv.URL + "/camp", Delivery: webhook.Delivery{Kind: webhook.Immediate}})
	for _, id := range []string{"retry", "gone", "gold", "down", "down"} {
		h.sendN(t, id, 1)
	}
	h.idle(t)
	h.advance(t, time.Minute) // the retry succeeds; the host that is down is paused
	if err := h.sender.StartCampaign(h.ctx, "camp"); err != nil {
		t.Fatal(err)
	}
	h.idle(t)

	got := collect(t, reader)
	want := map[string][]string{
		"webhook.attempts": {
			"webhook.attempt.outcome:failed,webhook.status_class:4xx=1",
			"webhook.attempt.outcome:retrying,webhook.status_class:5xx=3",
			"webhook.attempt.outcome:skipped,webhook.status_class:none=1",
			"webhook.attempt.outcome:succeeded,webhook.status_class:2xx=2",
		},
		"webhook.attempt.duration": { // the fake clock does not move during an attempt
			"webhook.attempt.outcome:failed,webhook.status_class:4xx=1/0",
			"webhook.attempt.outcome:retrying,webhook.status_class:5xx=3/0",
			"webhook.attempt.outcome:skipped,webhook.status_class:none=1/0",
			"webhook.attempt.outcome:succeeded,webhook.status_class:2xx=2/0",
		},
		"webhook.job.latency": {"=2/60"}, // the retry's job, a minute after it was enqueued, and the campaign's, at once
		"webhook.jobs.ended": {
			"webhook.job.state:failed,webhook.message.id:gone=1",
			"webhook.job.state:skipped,webhook.message.id:gold=1",
			"webhook.job.state:succeeded,webhook.message.id:camp=1",
			"webhook.job.state:succeeded,webhook.message.id:retry=1",
		},
		"webhook.campaign.jobs":       {"webhook.message.id:camp=1"},
		"webhook.queue.depth":         {"webhook.job.state:held=0", "webhook.job.state:running=0", "webhook.job.state:scheduled=2"},
		"webhook.queue.lag":           {"=0"}, // the paused host's jobs are due when its cool-down ends
		"webhook.hosts.open_breakers": {"=1"},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, points(t, got[name])); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}

	if err := h.sender.DeleteMessage(h.ctx, "down"); err != nil {
		t.Fatal(err)
	}
	got = collect(t, reader)
	if diff := cmp.Diff([]string{
		"webhook.job.state:cancelled,webhook.message.id:down=2",
		"webhook.job.state:failed,webhook.message.id:gone=1",
		"webhook.job.state:skipped,webhook.message.id:gold=1",
		"webhook.job.state:succeeded,webhook.message.id:camp=1",
		"webhook.job.state:succeeded,webhook.message.id:retry=1",
	}, points(t, got["webhook.jobs.ended"])); diff != "" {
		t.Errorf("webhook.jobs.ended after the paused host's message was deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"webhook.job.state:held=0", "webhook.job.state:running=0", "webhook.job.state:scheduled=0"}, points(t, got["webhook.queue.depth"])); diff != "" {
		t.Errorf("webhook.queue.depth after the paused host's message was deleted (-want +got):\n%s", diff)
	}
	// A stopped Sender reports no gauges: it reads no queue.
	if err := h.sender.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	got = collect(t, reader)
	for _, name := range []string{"webhook.queue.depth", "webhook.queue.lag", "webhook.hosts.open_breakers"} {
		if p := points(t, got[name]); len(p) != 0 {
			t.Errorf("%s after Stop = %v, want none", name, p)
		}
	}
}

// laggingStore is a memstore whose queue has a job due since a given time.
type laggingStore struct {
	*memstore.Store
	oldestDue time.Time
}

func (s *laggingStore) QueueStats(context.Context, webhook.QueueStatsParams) (webhook.QueueStats, error) {
	return webhook.QueueStats{Scheduled: 7, OldestDue: s.oldestDue}, nil
}

// TestQueueLagGauge checks that webhook.queue.lag is the time on the Sender's Clock since the
// job due the longest came due.
func TestQueueLagGauge(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	store := &laggingStore{Store: memstore.New(), oldestDue: webhooktest.Epoch.Add(-90 * time.Second)}
	s, clock := webhooktest.NewSender(t, store, &webhook.Config{MeterProvider: mp})
	webhooktest.Start(t, s)
	if err := clock.BlockUntil(t.Context(), 1); err != nil { // the Sender runs
		t.Fatal(err)
	}
	got := collect(t, reader)
	if diff := cmp.Diff([]string{"=90"}, points(t, got["webhook.queue.lag"])); diff != "" {
		t.Errorf("webhook.queue.lag (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"webhook.job.state:held=0", "webhook.job.state:running=0", "webhook.job.state:scheduled=7"}, points(t, got["webhook.queue.depth"])); diff != "" {
		t.Errorf("webhook.queue.depth (-want +got):\n%s", diff)
	}
}
