package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// JobCounts gives a message's progress: how many of its jobs are in each state. Here three
// jobs are enqueued (the Sender is not started, so none is sent) and one is cancelled.
func ExampleSender_JobCounts() {
	ctx := context.Background()
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "welcome", URL: "https://example.com/hook"}); err != nil {
		panic(err)
	}
	var ids []string
	for _, u := range []string{"u1", "u2", "u3"} {
		id, err := s.Send(ctx, "welcome", u, nil, nil)
		if err != nil {
			panic(err)
		}
		ids = append(ids, id)
	}
	if err := s.CancelJob(ctx, ids[0]); err != nil {
		panic(err)
	}
	counts, err := s.JobCounts(ctx, "welcome")
	if err != nil {
		panic(err)
	}
	for _, c := range counts {
		fmt.Println(c.MessageID, "scheduled:", c.States[webhook.JobScheduled], "cancelled:", c.States[webhook.JobCancelled],
			"total:", c.Total(), "pending:", c.Pending())
	}
	// Output:
	// welcome scheduled: 2 cancelled: 1 total: 3 pending: 2
}

// Jobs lists jobs a page at a time, newest first: each page's Next is the Cursor of the
// page after it, and "" on the last. Here five jobs are enqueued a minute apart (the Sender
// is not started, so none is sent) and listed two at a time.
func ExampleSender_Jobs() {
	ctx := context.Background()
	clock := webhooktest.NewFakeClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "welcome", URL: "https://example.com/hook"}); err != nil {
		panic(err)
	}
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5"} {
		if _, err := s.Send(ctx, "welcome", u, nil, nil); err != nil {
			panic(err)
		}
		clock.Advance(time.Minute)
	}
	q := webhook.JobsQuery{MessageID: "welcome", Limit: 2}
	for {
		page, err := s.Jobs(ctx, q)
		if err != nil {
			panic(err)
		}
		var users []string
		for _, j := range page.Jobs {
			users = append(users, j.UserID+" "+j.CreatedAt.Format("15:04"))
		}
		fmt.Println(strings.Join(users, ", "))
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	// Output:
	// u5 09:04, u4 09:03
	// u3 09:02, u2 09:01
	// u1 09:00
}

// Replay sends again the jobs that failed for good, here while the receiver was down: a dry
// run counts them first. Each replayed job keeps its ID, the webhook-id header the receiver
// deduplicates on, and its attempt is numbered after the failed one and marked Replay.
func ExampleSender_Replay() {
	ctx := context.Background()
	var up atomic.Bool
	got := make(chan string, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusGone) // not retried: the jobs fail for good
		}
		got <- r.Header.Get("webhook-id")
	}))
	defer receiver.Close()
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		AllowNetworks: webhooktest.LoopbackNetworks(),
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "order-shipped", URL: receiver.URL}); err != nil {
		panic(err)
	}
	// send starts the Sender, waits for n requests and stops it, which waits until their
	// attempts are logged.
	send := func(n int, enqueue func()) {
		if err := s.Start(ctx); err != nil {
			panic(err)
		}
		enqueue()
		for range n {
			<-got
		}
		if err := s.Stop(ctx); err != nil {
			panic(err)
		}
	}
	send(3, func() {
		for _, u := range []string{"u1", "u2", "u3"} {
			if _, err := s.Send(ctx, "order-shipped", u, nil, nil); err != nil {
				panic(err)
			}
		}
	})

	failed := webhook.JobsQuery{MessageID: "order-shipped", States: []webhook.JobState{webhook.JobFailed}}
	n, err := s.Replay(ctx, failed, webhook.ReplayOptions{DryRun: true})
	fmt.Println("would replay:", n, err)

	up.Store(true)
	send(3, func() {
		n, err = s.Replay(ctx, failed, webhook.ReplayOptions{})
		fmt.Println("replayed:", n, err)
	})
	log, err := s.AttemptLog(ctx, webhook.AttemptLogQuery{MessageID: "order-shipped", Outcomes: []webhook.Outcome{webhook.Succeeded}})
	if err != nil {
		panic(err)
	}
	var lines []string // sent at once by several workers, in any order
	for _, a := range log.Attempts {
		lines = append(lines, fmt.Sprint(a.UserID, " attempt ", a.Number, " ", a.Outcome, " replay: ", a.Replay))
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// would replay: 3 <nil>
	// replayed: 3 <nil>
	// u1 attempt 2 succeeded replay: true
	// u2 attempt 2 succeeded replay: true
	// u3 attempt 2 succeeded replay: true
}
