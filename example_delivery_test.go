package webhook_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hookline/webhook"
)

// Once sends a Triggered message to a user at most once ever; Limit sends it at most Max
// times in any window of Per, logging the jobs over the limit as Skipped.
func ExampleDelivery_once() {
	s, url, run := exampleSender()
	ctx := context.Background()
	for _, m := range []*webhook.Message{
		{ID: "welcome", URL: url + "/welcome", Delivery: webhook.Delivery{
			Kind: webhook.Triggered, Event: "signup", Once: true}},
		{ID: "viewed", URL: url + "/viewed", Delivery: webhook.Delivery{
			Kind: webhook.Triggered, Event: "view", Cap: webhook.Cap{Max: 2, Per: 24 * time.Hour}}},
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
	as, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "viewed", Limit: 1})
	fmt.Println(as[0].Err)
	// Output:
	// Mon 09:00 ann skipped
	// Mon 09:00 ann succeeded
	// Mon 09:00 ann succeeded
	// Mon 09:00 bob succeeded
	// message cap reached: 2 sent in 24h0m0s, at most 2
}

// Where filters a Triggered message's events by their parameters, and the Audience is checked
// when an event enqueues a job and again just before its first attempt: a user who left
// the audience in between is skipped.
func ExampleDelivery_where() {
	s, url, run := exampleSender(
		webhook.User{ID: "ann", Attributes: map[string]any{"plan": "gold"}},
		webhook.User{ID: "bob", Attributes: map[string]any{"plan": "gold"}},
		webhook.User{ID: "cy", Attributes: map[string]any{"plan": "free"}},
		webhook.User{ID: "dee", Attributes: map[string]any{"plan": "gold"}},
	)
	ctx := context.Background()
	err := s.SaveMessage(ctx, &webhook.Message{
		ID:       "cart-reminder",
		URL:      url + "/remind/{{ user.id }}",
		Audience: webhook.Attr("plan", webhook.OpEq, "gold"),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "cart_abandoned", Delay: time.Hour,
			Where: []webhook.Condition{{Key: "total", Op: webhook.OpGte, Value: 50}}},
	})
	if err != nil {
		panic(err)
	}
	for _, e := range []webhook.Event{
		{UserID: "ann", Name: "cart_abandoned", Params: map[string]any{"total": 80}},
		{UserID: "bob", Name: "cart_abandoned", Params: map[string]any{"total": 20}}, // under 50: nothing
		{UserID: "cy", Name: "cart_abandoned", Params: map[string]any{"total": 90}},  // not gold: nothing
		{UserID: "dee", Name: "cart_abandoned", Params: map[string]any{"total": 50}},
	} {
		if err := s.Trigger(ctx, e); err != nil {
			panic(err)
		}
	}
	// Before the hour is up, ann leaves the audience.
	if err := s.Identify(ctx, webhook.User{ID: "ann", Attributes: map[string]any{"plan": "free"}}); err != nil {
		panic(err)
	}
	run(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	as, _ := s.Attempts(ctx, webhook.AttemptQuery{UserID: "ann"})
	fmt.Println(as[0].Err)
	// Output:
	// Mon 10:00 ann skipped
	// Mon 10:00 dee succeeded
	// the user is not in the message's audience
}
