package webhook_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// A reminder two hours after signup, unless the user purchased in the meantime.
func ExampleDelivery_unless() {
	ctx := context.Background()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("received", r.Method, r.URL.Path)
	}))
	defer receiver.Close()
	clock := webhooktest.NewFakeClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		Clock:         clock,
		AllowNetworks: webhooktest.LoopbackNetworks(), // the receiver is on 127.0.0.1
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID:  "finish-your-order",
		URL: receiver.URL + "/remind/{{ user.id }}",
		Delivery: webhook.Delivery{
			Kind:   webhook.Triggered,
			Event:  "signup",
			Delay:  2 * time.Hour,
			Unless: "purchase",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer s.Stop(ctx)

	for _, e := range []webhook.Event{{UserID: "ann", Name: "signup"}, {UserID: "bob", Name: "signup"}} {
		if err := s.Trigger(ctx, e); err != nil {
			log.Fatal(err)
		}
	}
	wait := func() { // until the Sender is idle: everything due is sent
		if err := clock.BlockUntil(ctx, 1); err != nil {
			log.Fatal(err)
		}
	}
	wait()
	clock.Advance(30 * time.Minute)
	wait()
	if err := s.Trigger(ctx, webhook.Event{UserID: "bob", Name: "purchase"}); err != nil {
		log.Fatal(err)
	}
	clock.Advance(90 * time.Minute)
	wait()

	attempts, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		log.Fatal(err)
	}
	for i := len(attempts) - 1; i >= 0; i-- {
		a := attempts[i]
		fmt.Println(a.Time.Format("15:04"), a.UserID, a.Outcome, a.Err)
	}
	// Output:
	// received POST /remind/ann
	// 09:30 bob cancelled cancelled by event "purchase"
	// 11:00 ann succeeded
}
