package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/webhooktest"
)

// AudienceLaunch is the time of [BenchAudience]: the population's events are in the 60
// days before it.
var AudienceLaunch = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// AudiencePopulation generates the population of [BenchAudience]: n users with IDs
// "user-0000000" on, each with attributes "plan" ("gold" for one in five, else "silver"
// or "free"), "age" (a number), "score" (a float or a numeric string) and "vip" (a
// boolean), and three events on average named "purchase", "view" or "open", with a
// parameter "amount", in the 60 days before AudienceLaunch. It calls user for each user
// with the user in JSON, and event for each event with its parameters in JSON, in order,
// so that a Store's benchmark can load them in bulk (with COPY or multi-row inserts in
// one transaction) rather than through a Sender.
func AudiencePopulation(n int, user func(u webhook.User, data []byte), event func(e webhook.Event, params []byte)) {
	plans := []string{"gold", "silver", "free", "free", "silver"}
	names := []string{"purchase", "view", "view", "open"}
	seed := uint64(1)
	next := func(m int) int { // a xorshift: fast, and the same everywhere
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(m))
	}
	for i := range n {
		id := fmt.Sprintf("user-%07d", i)
		var score any = float64(next(1000)) + 0.5
		if i%3 == 0 {
			score = fmt.Sprint(next(1000))
		}
		u := webhook.User{ID: id, CreatedAt: AudienceLaunch.Add(-400 * 24 * time.Hour), Attributes: webhook.Map{
			"plan": plans[i%len(plans)], "age": int64(18 + next(60)), "score": score, "vip": next(10) == 0,
		}}
		user(u, mustJSON(u))
		for j := range next(7) {
			e := webhook.Event{ID: fmt.Sprintf("%s-%d", id, j), UserID: id, Name: names[next(len(names))],
				Time: AudienceLaunch.Add(-time.Duration(next(60*24*60)) * time.Minute), Params: webhook.Map{"amount": int64(next(100))}}
			event(e, mustJSON(e.Params))
		}
	}
}

// mustJSON returns v in JSON. The population holds only strings, integers, finite
// floats and booleans, which always encode.
func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// BenchAudience measures, on a Store holding a population of n users that
// [AudiencePopulation] generated, the audience of users on the "gold" plan who made a
// purchase in the last 30 days:
//
//   - Count: [webhook.Sender.AudienceSize] of it, in s/count;
//   - CountInGo: the same on the Store without its [webhook.AudienceStore] role, as the
//     Sender evaluates an audience that a Store cannot, in s/count;
//   - FanOut: a started Sender's fan-out of a campaign to it (a Scheduled message due hours
//     later, so that nothing is sent), from StartCampaign until the fan-out is done, in
//     s/fan-out and jobs/s;
//   - Enqueue: the baseline, the same number of jobs of the same shape enqueued straight
//     into the Store, a page of 1000 at a time, in s/enqueue.
//
// reset must delete every job and campaign. Run it with -benchtime=1x.
func BenchAudience(b *testing.B, s webhook.Store, reset func(b *testing.B)) {
	ctx := context.Background()
	audience := webhook.All(webhook.Attr("plan", webhook.OpEq, "gold"), webhook.Did("purchase", 30*24*time.Hour, webhook.OpGte, 1))
	clock := webhooktest.NewFakeClock(AudienceLaunch)
	sender, err := webhook.NewSender(s, &webhook.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	size, err := sender.AudienceSize(ctx, audience)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Count", func(b *testing.B) {
		for b.Loop() {
			if _, err := sender.AudienceSize(ctx, audience); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/count")
		b.ReportMetric(float64(size), "users")
	})
	b.Run("CountInGo", func(b *testing.B) {
		// The same Store without the AudienceStore role: the Sender reads every user and
		// the events of each user on the gold plan.
		sender, err := webhook.NewSender(struct{ webhook.Store }{s}, &webhook.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			n, err := sender.AudienceSize(ctx, audience)
			if err != nil {
				b.Fatal(err)
			}
			if n != size {
				b.Fatalf("AudienceSize in Go = %d, in the Store %d", n, size)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/count")
	})
	b.Run("FanOut", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			reset(b)
			sender, err := webhook.NewSender(s, &webhook.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			// At 21:00 on each user's clock: the fan-out is due at once, in the first time
			// zone, and the jobs of the users, who have none (UTC), are due at 21:00 UTC.
			m := &webhook.Message{ID: "gold", URL: "https://example.com/{{ user.id }}", Audience: audience, Delivery: webhook.Delivery{
				Kind: webhook.Scheduled, Date: AudienceLaunch.Format(time.DateOnly), TimeOfDay: "21:00", UserTimeZone: true,
			}}
			if err := sender.SaveMessage(ctx, m); err != nil {
				b.Fatal(err)
			}
			if err := sender.Start(ctx); err != nil {
				b.Fatal(err)
			}
			if err := clock.BlockUntil(ctx, 1); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			if err := sender.StartCampaign(ctx, "gold"); err != nil {
				b.Fatal(err)
			}
			for {
				if err := clock.BlockUntil(ctx, 1); err != nil {
					b.Fatal(err)
				}
				c, err := sender.Campaign(ctx, "gold")
				if err != nil {
					b.Fatal(err)
				}
				if c.NextAt.IsZero() {
					break
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if err := sender.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			jobs, err := s.Jobs(ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "gold"}})
			if err != nil {
				b.Fatal(err)
			}
			if len(jobs) != size {
				b.Fatalf("the fan-out enqueued %d jobs, want %d, the audience's size", len(jobs), size)
			}
			b.ReportMetric(elapsed.Seconds(), "s/fan-out")
			b.ReportMetric(float64(size)/elapsed.Seconds(), "jobs/s")
		}
	})
	b.Run("Enqueue", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			reset(b)
			b.StartTimer()
			start := time.Now()
			for p := 0; p < size; p += 1000 {
				jobs := make([]*webhook.Job, 0, 1000)
				for i := p; i < min(p+1000, size); i++ {
					user := fmt.Sprintf("user-%07d", i)
					jobs = append(jobs, &webhook.Job{
						ID: fmt.Sprintf("job_%026d", i), Key: fmt.Sprintf(`["gold",%q,"campaign:1:"]`, user),
						MessageID: "gold", MessageVersion: 1, UserID: user, State: webhook.JobScheduled,
						CreatedAt: AudienceLaunch, DueAt: AudienceLaunch.Add(24 * time.Hour),
					})
				}
				if _, err := s.Enqueue(ctx, webhook.EnqueueParams{Jobs: jobs}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(time.Since(start).Seconds(), "s/enqueue")
			b.ReportMetric(float64(size)/time.Since(start).Seconds(), "jobs/s")
		}
	})
}
