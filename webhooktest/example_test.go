package webhooktest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// A FakeClock runs a Sender's whole retry schedule, 31 minutes of it, at once: BlockUntil
// waits until the Sender is idle, and Set moves the clock to the next attempt's time.
func ExampleFakeClock() {
	ctx := context.Background()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()

	clock := webhooktest.NewFakeClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		Clock:         clock,
		AllowNetworks: webhooktest.LoopbackNetworks(),
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "ping", URL: down.URL})
	_ = s.Start(ctx)
	defer s.Stop(ctx)

	_, _ = s.Send(ctx, "ping", "u1", nil, nil)
	for {
		_ = clock.BlockUntil(ctx, 1) // the Sender is idle: the attempt is logged
		attempts, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "ping", Limit: 1})
		a := attempts[0] // the latest
		fmt.Printf("attempt %d at %s: %d %s\n", a.Number, a.Time.Format("15:04"), a.StatusCode, a.Outcome)
		if a.NextAttemptAt.IsZero() {
			break
		}
		clock.Set(a.NextAttemptAt)
	}
	// Output:
	// attempt 1 at 09:00: 503 retrying
	// attempt 2 at 09:01: 503 retrying
	// attempt 3 at 09:03: 503 retrying
	// attempt 4 at 09:07: 503 retrying
	// attempt 5 at 09:15: 503 retrying
	// attempt 6 at 09:31: 503 failed
}
