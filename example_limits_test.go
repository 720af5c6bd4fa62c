package webhook_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hookline/webhook"
)

// Once sends a Triggered message to a user at most once ever; Limit sends it at most Max
// times in any window of Per, logging the deliveries over the limit as Skipped.
func ExampleDelivery_once() {
	s, url, run := exampleSender()
	ctx := context.Background()
	for _, m := range []*webhook.Message{
		{ID: "welcome", URL: url + "/welcome", Delivery: webhook.Delivery{
			Kind: webhook.Triggered, Event: "signup", Once: true}},
		{ID: "viewed", URL: url + "/viewed", Delivery: webhook.Delivery{
			Kind: webhook.Triggered, Event: "view", Limit: webhook.Cap{Max: 2, Per: 24 * time.Hour}}},
	} {
		if err := s.SaveMessage(ctx, m); err != nil {
			panic(err)
		}
	}
	for _, e := range []webhook.Event{
		{UserID: "bob", Name: "signup"}, {UserID: "bob", Name: "signup"},
		{UserID: "ann", Name: "view"}, {UserID: "ann", Name: "view"}, {UserID: "ann", Name: "view"},
	} {
		if err := s.Trigger(ctx, e); err != nil {
			panic(err)
		}
	}
	run(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	as, _ := s.Attempts(ctx, webhook.AttemptFilter{MessageID: "viewed", Limit: 1})
	fmt.Println(as[0].Err)
	// Output:
	// Mon 09:00 ann skipped
	// Mon 09:00 ann succeeded
	// Mon 09:00 ann succeeded
	// Mon 09:00 bob succeeded
	// message limit reached: 2 sent in 24h0m0s, at most 2
}
