package webhook

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// BenchmarkAttemptTelemetryNoop measures what the instrumentation adds to one job when no
// TracerProvider or MeterProvider is set (the global ones, which do nothing until the app
// sets one): the trace context read when it is enqueued, the attempt's span, and the
// metrics recorded when its outcome is written. Compare it with the CPU time per job of
// BenchmarkDelivery.
func BenchmarkAttemptTelemetryNoop(b *testing.B) {
	ctx := context.Background()
	obs := &observer{clock: systemClock{}, tel: newTelemetry(&Config{})}
	now := time.Now()
	j := &Job{ID: "job_1", MessageID: "m", MessageVersion: 1, UserID: "u1", CreatedAt: now, State: JobSucceeded, Attempts: 1}
	req := &Request{Method: "POST", URL: "http://127.0.0.1:8080/hook", Header: map[string][]string{"Content-Type": {"application/json"}}}
	a := &Attempt{JobID: j.ID, MessageID: "m", Number: 1, Time: now, StatusCode: 200, Outcome: Succeeded}
	b.ReportAllocs()
	for b.Loop() {
		j.Trace = traceOf(ctx)
		at := &attempt{job: j, number: 1}
		_ = obs.tel.startAttempt(ctx, at, req)
		obs.tel.endAttempt(at, a, nil, 0)
		obs.finished(ctx, &Finished{Job: j, Attempt: a}, nil, nil)
	}
}

// TestTracing checks which tracer providers make the attempts' spans: not a no-op one, nor
// otel's global one while the app has set none.
func TestTracing(t *testing.T) {
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
		want bool
	}{
		{"default", nil, false},
		{"noop", noop.NewTracerProvider(), false},
		{"sdk", sdktrace.NewTracerProvider(), true},
	} {
		if got := newTelemetry(&Config{TracerProvider: c.tp}).tracing(); got != c.want {
			t.Errorf("%s: tracing() = %v; want %v", c.name, got, c.want)
		}
	}
}
