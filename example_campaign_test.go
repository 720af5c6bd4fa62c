package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// exampleSender returns a started Sender on memstore whose fake clock reads Monday
// 2026-11-23 09:00 UTC, the URL of a local endpoint that answers 204, and a function that
// moves the clock on to until, a quarter of an hour at a time, printing the attempts made,
// then stops the Sender.
func exampleSender(users ...webhook.User) (s *webhook.Sender, url string, run func(until time.Time)) {
	ctx := context.Background()
	s, clock, url, stop := policySender(webhook.Config{})
	for _, u := range users {
		if err := s.Identify(ctx, u); err != nil {
			panic(err)
		}
	}
	printed := 0
	run = func(until time.Time) {
		for {
			if err := clock.BlockUntil(ctx, 1); err != nil {
				panic(err)
			}
			as, _ := s.Attempts(ctx, webhook.AttemptQuery{})
			var lines []string
			for _, a := range as[:len(as)-printed] {
				lines = append(lines, fmt.Sprintf("%s %s %s", a.Time.UTC().Format("Mon 15:04"), a.UserID, a.Outcome))
			}
			slices.Sort(lines) // by time, then user
			for _, l := range lines {
				fmt.Println(l)
			}
			printed = len(as)
			if !clock.Now().Before(until) {
				stop()
				return
			}
			clock.Advance(15 * time.Minute)
		}
	}
	return s, url, run
}

func ExampleSender_StartCampaign() {
	s, url, run := exampleSender(webhook.User{ID: "ann"}, webhook.User{ID: "bob"})
	ctx := context.Background()
	m := &webhook.Message{ID: "launch", URL: url + "/launch", Delivery: webhook.Delivery{Kind: webhook.Immediate}}
	if err := s.SaveMessage(ctx, m); err != nil {
		panic(err)
	}
	if err := s.StartCampaign(ctx, "launch"); err != nil {
		panic(err)
	}
	run(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	// Output:
	// Mon 09:00 ann succeeded
	// Mon 09:00 bob succeeded
}

// A Scheduled message at 10:00 on each user's clock, started at 09:00 UTC: the time has
// passed in Kathmandu, so Kathmandu gets it the next day.
func ExampleDelivery_userTimeZone() {
	s, url, run := exampleSender(
		webhook.User{ID: "london", TimeZone: "Europe/London"},
		webhook.User{ID: "new-york", TimeZone: "America/New_York"},
		webhook.User{ID: "kathmandu", TimeZone: "Asia/Kathmandu"},
	)
	ctx := context.Background()
	m := &webhook.Message{ID: "digest", URL: url + "/digest", Delivery: webhook.Delivery{
		Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "10:00",
		UserTimeZone: true, IfPassed: webhook.PassedNextDay,
	}}
	if err := s.SaveMessage(ctx, m); err != nil {
		panic(err)
	}
	if err := s.StartCampaign(ctx, "digest"); err != nil {
		panic(err)
	}
	run(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	// Output:
	// Mon 10:00 london succeeded
	// Mon 15:00 new-york succeeded
	// Tue 04:15 kathmandu succeeded
}

// A Recurring message on weekdays at 09:30 New York time, for a week.
func ExampleDelivery_recurring() {
	s, url, run := exampleSender(webhook.User{ID: "ann"})
	ctx := context.Background()
	m := &webhook.Message{ID: "standup", URL: url + "/standup", Delivery: webhook.Delivery{
		Kind: webhook.Recurring, TimeOfDay: "09:30", TimeZone: "America/New_York",
		Weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
	}}
	if err := s.SaveMessage(ctx, m); err != nil {
		panic(err)
	}
	if err := s.StartCampaign(ctx, "standup"); err != nil {
		panic(err)
	}
	run(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	// Output:
	// Mon 14:30 ann succeeded
	// Tue 14:30 ann succeeded
	// Wed 14:30 ann succeeded
	// Thu 14:30 ann succeeded
	// Fri 14:30 ann succeeded
}

// Cancelling a campaign cancels its pending jobs and logs them as cancelled.
func ExampleSender_CancelCampaign() {
	s, url, run := exampleSender(webhook.User{ID: "ann"}, webhook.User{ID: "bob", TimeZone: "Asia/Tokyo"})
	ctx := context.Background()
	m := &webhook.Message{ID: "sale", URL: url + "/sale", Delivery: webhook.Delivery{
		Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "20:00", UserTimeZone: true,
	}}
	if err := s.SaveMessage(ctx, m); err != nil {
		panic(err)
	}
	if err := s.StartCampaign(ctx, "sale"); err != nil {
		panic(err)
	}
	run(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)) // bob's 20:00 is 11:00 UTC
	if err := s.CancelCampaign(ctx, "sale"); err != nil {
		panic(err)
	}
	as, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "sale", Limit: 1})
	fmt.Println(as[0].UserID, as[0].Outcome)
	// Output:
	// Mon 11:00 bob succeeded
	// ann cancelled
}
