package pgstore_test

import (
	"context"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/webhooktest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTraceLinkSurvivesARestart checks that the span of an attempt made by a Sender on a new
// pool, after the pool of the Sender that triggered the job was closed, links to the span
// under which the job was triggered: the trace context is kept with the job, and with a
// campaign for the jobs its fan-out enqueues, across processes sharing the database.
func TestTraceLinkSurvivesARestart(t *testing.T) {
	for _, kind := range []webhook.DeliveryKind{webhook.Triggered, webhook.Immediate} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := t.Context()
			schema := newSchema(t)
			recv := webhooktest.NewReceiver(t)
			app := sdktrace.NewTracerProvider()
			defer app.Shutdown(context.Background())

			pool := newPool(t, schema)
			if err := pgstore.New(pool).Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			first, _ := webhooktest.NewSender(t, pgstore.New(pool), nil)
			m := &webhook.Message{ID: "m", URL: recv.URL + "/hook", Delivery: webhook.Delivery{Kind: kind}}
			if kind == webhook.Triggered {
				m.Delivery.Event = "signup"
			}
			if err := first.SaveMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := first.Identify(ctx, webhook.User{ID: "u1"}); err != nil {
				t.Fatal(err)
			}
			reqCtx, parent := app.Tracer("app").Start(ctx, "POST /signup")
			var err error
			if kind == webhook.Triggered {
				err = first.Trigger(reqCtx, webhook.Event{UserID: "u1", Name: "signup"})
			} else {
				err = first.StartCampaign(reqCtx, "m")
			}
			if err != nil {
				t.Fatal(err)
			}
			parent.End()
			pool.Close()

			store := pgstore.New(newPool(t, schema))
			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			defer tp.Shutdown(context.Background())
			second, clock := webhooktest.NewSender(t, store, &webhook.Config{TracerProvider: tp})
			webhooktest.Start(t, second)
			if _, err := recv.Wait(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := clock.BlockUntil(ctx, 1); err != nil {
				t.Fatal(err)
			}
			ended := spans.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans ended, want 1 for the attempt", len(ended))
			}
			if links := ended[0].Links(); len(links) != 1 || !links[0].SpanContext.Equal(parent.SpanContext().WithRemote(true)) {
				t.Errorf("the attempt's span links to %+v, want the span that enqueued the job, %+v", links, parent.SpanContext())
			}
		})
	}
}
