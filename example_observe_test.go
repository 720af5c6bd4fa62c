package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Hooks are called, one at a time and in the order the Store recorded what they report, by a
// goroutine of the Sender's that is not on the path of any job; Stop waits for them. (Here
// the first job's outcome may be recorded before or after the second job is cancelled.)
func ExampleHooks() {
	ctx := context.Background()
	got := make(chan struct{}, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusGone)
		got <- struct{}{}
	}))
	defer receiver.Close()

	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		AllowNetworks: webhooktest.LoopbackNetworks(), // the receiver is on loopback
		Logger:        slog.New(slog.DiscardHandler),
		Hooks: webhook.Hooks{
			AttemptFinished: func(_ context.Context, a webhook.Attempt) {
				fmt.Println("attempt", a.Number, a.MessageID, a.StatusCode, a.Outcome)
			},
			JobEnded: func(_ context.Context, e webhook.JobEnd) {
				fmt.Println("job", e.MessageID, e.State+":", e.Reason)
			},
		},
	})
	if err != nil {
		panic(err)
	}
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "order-shipped", URL: receiver.URL + "/orders"}); err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	if _, err := s.Send(ctx, "order-shipped", "u1", nil, nil); err != nil {
		panic(err)
	}
	<-got
	if _, err := s.Send(ctx, "order-shipped", "u2", nil, &webhook.SendOptions{At: time.Now().Add(time.Hour)}); err != nil {
		panic(err)
	}
	if err := s.DeleteMessage(ctx, "order-shipped"); err != nil { // cancels the second job
		panic(err)
	}
	if err := s.Stop(ctx); err != nil { // waits for the first job and for the hooks
		panic(err)
	}
	// Unordered output:
	// attempt 1 order-shipped 410 failed
	// job order-shipped failed: unexpected status 410 Gone
	// job order-shipped cancelled: message deleted
}

// A system webhook forwards the notices of Hooks to an endpoint of the app, signed, through
// the job queue. Types selects which; here, only the ends of jobs.
func ExampleSystemWebhook() {
	ctx := context.Background()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // in real use, webhook.NewSecret()
	got := make(chan string, 1)
	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]string{secret}, r.Header, body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p struct {
			Type string
			Data webhook.JobEnd
		}
		_ = json.Unmarshal(body, &p)
		got <- fmt.Sprintf("%s: %s of %s %s after %d attempt", p.Type, p.Data.UserID, p.Data.MessageID, p.Data.State, p.Data.Attempts)
	}))
	defer ops.Close()
	crm := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer crm.Close()

	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		AllowNetworks: webhooktest.LoopbackNetworks(),
		Logger:        slog.New(slog.DiscardHandler),
		SystemWebhook: &webhook.SystemWebhook{
			URL: ops.URL + "/webhook-events", Secrets: []string{secret},
			Types: []webhook.NoticeType{webhook.NoticeJobEnded},
		},
	})
	if err != nil {
		panic(err)
	}
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "welcome", URL: crm.URL + "/welcome"}); err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	if _, err := s.Send(ctx, "welcome", "u1", nil, nil); err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	if err := s.Stop(ctx); err != nil {
		panic(err)
	}
	// Output:
	// job.ended: u1 of welcome succeeded after 1 attempt
}

// Each attempt is a client span that links to the span active when its job was enqueued, here
// the app's request; the link is kept with the job, so it holds when another process sends it.
func ExampleConfig_tracerProvider() {
	ctx := context.Background()
	sent := make(chan struct{}, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { sent <- struct{}{} }))
	defer receiver.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		AllowNetworks:  webhooktest.LoopbackNetworks(),
		Logger:         slog.New(slog.DiscardHandler),
		TracerProvider: tp,
	})
	if err != nil {
		panic(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID: "welcome", URL: receiver.URL + "/welcome",
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup"},
	})
	if err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	reqCtx, request := tp.Tracer("app").Start(ctx, "POST /signup")
	if err := s.Trigger(reqCtx, webhook.Event{UserID: "u1", Name: "signup"}); err != nil {
		panic(err)
	}
	request.End()
	<-sent
	if err := s.Stop(ctx); err != nil { // waits for the attempt to be recorded
		panic(err)
	}
	for _, span := range spans.Ended() {
		if span.SpanContext().SpanID() == request.SpanContext().SpanID() {
			continue // the app's own span, which may end before or after the attempt's
		}
		fmt.Println(span.Name(), span.SpanKind(), "linked to the request:",
			span.Links()[0].SpanContext.SpanID() == request.SpanContext().SpanID())
	}
	// Output:
	// POST client linked to the request: true
}
