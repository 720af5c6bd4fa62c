package webhook

import (
	"context"
	"testing"
	"time"
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
