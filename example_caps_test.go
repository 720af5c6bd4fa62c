package webhook_test

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

// policySender returns a started Sender on memstore with cfg, whose fake clock reads Monday
// 2026-11-23 09:00 UTC, the URL of a local endpoint that answers 204, and a function that
// stops the Sender and the endpoint.
func policySender(cfg webhook.Config) (s *webhook.Sender, clock *webhooktest.FakeClock, url string, stop func()) {
	return senderOn(memstore.New(), cfg)
}

// senderOn is policySender on a Store of the caller's.
func senderOn(store webhook.Store, cfg webhook.Config) (s *webhook.Sender, clock *webhooktest.FakeClock, url string, stop func()) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	clock = webhooktest.NewFakeClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	cfg.Clock, cfg.AllowNetworks, cfg.Logger = clock, webhooktest.LoopbackNetworks(), slog.New(slog.DiscardHandler)
	s, err := webhook.NewSender(store, &cfg)
	if err != nil {
		panic(err)
	}
	if err := s.Start(context.Background()); err != nil {
		panic(err)
	}
	return s, clock, srv.URL, func() { s.Stop(context.Background()); srv.Close() }
}

// Caps limit how many deliveries a user gets across all messages in a rolling window. A
// delivery over a cap is not sent but logged as Skipped; a message with IgnoreCaps is
// neither stopped nor counted.
func ExampleCap() {
	ctx := context.Background()
	s, clock, url, stop := policySender(webhook.Config{
		Caps: []webhook.Cap{{Max: 2, Per: 24 * time.Hour}}, // at most 2 a day
	})
	defer stop()
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "promo", URL: url + "/promo"})
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "receipt", URL: url + "/receipt",
		Delivery: webhook.Delivery{IgnoreCaps: true}})

	for _, id := range []string{"promo", "promo", "receipt", "promo"} {
		_, _ = s.Send(ctx, id, "ann", nil, nil)
		_ = clock.BlockUntil(ctx, 1) // the Sender is idle: the delivery is logged
		as, _ := s.Attempts(ctx, webhook.AttemptQuery{Limit: 1})
		if as[0].Err == "" {
			fmt.Println(as[0].MessageID, as[0].Outcome)
		} else {
			fmt.Println(as[0].MessageID, as[0].Outcome+":", as[0].Err)
		}
	}
	clock.Advance(24*time.Hour + time.Minute) // the window includes its start: the first two sends leave it after 24 hours
	_, _ = s.Send(ctx, "promo", "ann", nil, nil)
	_ = clock.BlockUntil(ctx, 1)
	as, _ := s.Attempts(ctx, webhook.AttemptQuery{Limit: 1})
	fmt.Println(as[0].MessageID, as[0].Outcome, "a day later")
	// Output:
	// promo succeeded
	// promo succeeded
	// receipt succeeded
	// promo skipped: frequency cap reached: 2 sent in 24h0m0s, at most 2
	// promo succeeded a day later
}

// Quiet hours hold deliveries that come due at night in the user's time zone until the
// morning; holding them is not an attempt.
func ExampleQuietHours() {
	ctx := context.Background()
	s, clock, url, stop := policySender(webhook.Config{
		QuietHours: webhook.QuietHours{Start: 22 * time.Hour, End: 8 * time.Hour}, // 22:00–08:00
	})
	defer stop()
	_ = s.Identify(ctx, webhook.User{ID: "kenji", TimeZone: "Asia/Tokyo"}) // 18:00 there
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "nudge", URL: url + "/nudge",
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "cart_abandoned", Delay: 5 * time.Hour}})
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "alarm", URL: url + "/alarm",
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "cart_abandoned", Delay: 5 * time.Hour, IgnoreQuietHours: true}})

	_ = s.Trigger(ctx, webhook.Event{UserID: "kenji", Name: "cart_abandoned"}) // both due at 23:00 in Tokyo
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for range 20 { // a day, an hour at a time
		_ = clock.BlockUntil(ctx, 1)
		clock.Advance(time.Hour)
	}
	_ = clock.BlockUntil(ctx, 1)
	as, _ := s.Attempts(ctx, webhook.AttemptQuery{UserID: "kenji"})
	for i := len(as) - 1; i >= 0; i-- { // oldest first
		fmt.Println(as[i].MessageID, as[i].Outcome, "at", as[i].Time.In(tokyo).Format("Mon 15:04"), "in Tokyo")
	}
	// Output:
	// alarm succeeded at Mon 23:00 in Tokyo
	// nudge succeeded at Tue 08:00 in Tokyo
}
