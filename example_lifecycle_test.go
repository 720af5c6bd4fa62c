package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// newExampleSender returns a Sender on memstore for the examples that send nothing.
func newExampleSender() (*webhook.Sender, *memstore.Store) {
	store := memstore.New()
	s, err := webhook.NewSender(store, &webhook.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	return s, store
}

// With an idempotency key, Send enqueues at most one job per message, user and key: a call
// retried after a timeout returns the first call's job ID and sends nothing more.
func ExampleSendOptions_key() {
	ctx := context.Background()
	s, _ := newExampleSender()
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "receipt", URL: "https://example.com/receipts"}); err != nil {
		panic(err)
	}
	first, _ := s.Send(ctx, "receipt", "u1", map[string]any{"order": 42}, &webhook.SendOptions{Key: "order-42"})
	again, _ := s.Send(ctx, "receipt", "u1", map[string]any{"order": 42}, &webhook.SendOptions{Key: "order-42"})
	other, _ := s.Send(ctx, "receipt", "u1", map[string]any{"order": 43}, &webhook.SendOptions{Key: "order-43"})
	fmt.Println("retry returns the first job:", again == first)
	fmt.Println("another key is another job:", other != first)
	// Output:
	// retry returns the first job: true
	// another key is another job: true
}

// Identify merges what it is given into the stored user, as the platforms' user updates do;
// UpdateUsers also replaces users whole and removes attributes, many users at a time.
func ExampleSender_UpdateUsers() {
	ctx := context.Background()
	s, store := newExampleSender()
	_ = s.Identify(ctx, webhook.User{ID: "u1", Email: "mary@example.com", Attributes: webhook.Map{"plan": "gold", "age": 29}})
	_ = s.Identify(ctx, webhook.User{ID: "u1", Attributes: webhook.Map{"age": 30}}) // keeps plan and email
	err := s.UpdateUsers(ctx, []webhook.UserUpdate{
		{User: webhook.User{ID: "u1", Attributes: webhook.Map{"score": 7}}, Unset: []string{"plan"}},
		{User: webhook.User{ID: "u2", Email: "joe@example.com"}, Replace: true},
	})
	if err != nil {
		panic(err)
	}
	users, _ := store.Users(ctx, webhook.UserQuery{IDs: []string{"u1", "u2"}})
	for _, u := range users {
		fmt.Println(u.ID, u.Email, slices.Sorted(maps.Keys(u.Attributes)))
	}
	// Output:
	// u1 mary@example.com [age score]
	// u2 joe@example.com []
}

// A campaign is started once: a second StartCampaign, such as a retry, says so and sends
// nothing; RestartCampaign starts a new run, which sends to everyone again.
func ExampleSender_RestartCampaign() {
	ctx := context.Background()
	s, _ := newExampleSender()
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "promo", URL: "https://example.com/promo",
		Delivery: webhook.Delivery{Kind: webhook.Immediate}})
	fmt.Println("start:", s.StartCampaign(ctx, "promo"))
	err := s.StartCampaign(ctx, "promo")
	fmt.Println("again:", errors.Is(err, webhook.ErrCampaignStarted))
	if err := s.CancelCampaign(ctx, "promo"); err != nil {
		panic(err)
	}
	fmt.Println("restart:", s.RestartCampaign(ctx, "promo"))
	c, _ := s.Campaign(ctx, "promo")
	fmt.Println("run", c.Run, c.State)
	// Output:
	// start: <nil>
	// again: true
	// restart: <nil>
	// run 2 running
}

// DeleteMessage cancels what waits to be sent, logging each job as cancelled, and leaves the
// message out of lists; its versions stay readable, as the attempt log refers to them.
func ExampleSender_DeleteMessage() {
	ctx := context.Background()
	s, _ := newExampleSender()
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "welcome", URL: "https://example.com/welcome"})
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "promo", URL: "https://example.com/promo"})
	if _, err := s.Send(ctx, "welcome", "u1", nil, nil); err != nil { // not started: it waits
		panic(err)
	}
	if err := s.DeleteMessage(ctx, "welcome"); err != nil {
		panic(err)
	}
	as, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "welcome"})
	fmt.Println(as[0].Outcome, as[0].Err)
	ms, _ := s.Messages(ctx, "", 10)
	fmt.Println(len(ms), ms[0].ID)
	m, _ := s.Message(ctx, "welcome", 1)
	fmt.Println(m.URL)
	// Output:
	// cancelled message deleted
	// 1 promo
	// https://example.com/welcome
}

// TriggerMany saves a batch of events in one Store change; each counts in the audiences of
// those after it, as with one Trigger each.
func ExampleSender_TriggerMany() {
	ctx := context.Background()
	s, store := newExampleSender()
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "second-purchase", URL: "https://example.com/loyal",
		Audience: webhook.Did("purchase", 0, webhook.OpGte, 2),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "purchase"}})
	err := s.TriggerMany(ctx, []webhook.Event{
		{ID: "o1", UserID: "ann", Name: "purchase"},
		{ID: "o2", UserID: "bob", Name: "purchase"},
		{ID: "o3", UserID: "ann", Name: "purchase"},
	})
	if err != nil {
		panic(err)
	}
	jobs, _ := store.Jobs(ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "second-purchase"}})
	for _, j := range jobs {
		fmt.Println(j.UserID, j.Event.ID)
	}
	// Output:
	// ann o3
}
