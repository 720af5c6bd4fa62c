package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// benchUsers is the audience of the fan-out benchmark.
const benchUsers = 1_000_000

// benchStore returns a memstore holding benchUsers users spread over five time zones (one
// in five has none).
func benchStore(b *testing.B) *memstore.Store {
	b.Helper()
	ctx := context.Background()
	zones := []string{"America/New_York", "Europe/London", "Asia/Kathmandu", "Australia/Lord_Howe", ""}
	st := memstore.New()
	for i := range benchUsers {
		if err := putUser(ctx, st, webhook.User{ID: fmt.Sprintf("user-%07d", i), TimeZone: zones[i%len(zones)]}); err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// heapAfterGC returns the bytes of live heap objects.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkUserTimeZoneFanOut enqueues a Scheduled campaign at 21:00 on each user's clock
// for a million memstore users, run by a started Sender, and reports the rate and the heap
// bytes each pending job takes. The baseline enqueues the same number of jobs of the
// same shape straight into the Store, in batches of the fan-out's page size. CPU time is
// reported too, for busy machines. Run it with -benchtime=1x.
func BenchmarkUserTimeZoneFanOut(b *testing.B) {
	ctx := context.Background()
	launch := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	report := func(b *testing.B, elapsed, cpu time.Duration, before, after uint64) {
		b.ReportMetric(float64(benchUsers)/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(float64(after-before)/benchUsers, "B/delivery")
		b.ReportMetric(elapsed.Seconds(), "s/fan-out")
		b.ReportMetric(cpu.Seconds(), "cpu-s/fan-out")
	}
	b.Run("fan-out", func(b *testing.B) {
		for range b.N {
			st := benchStore(b)
			clock := webhooktest.NewFakeClock(launch)
			s, err := webhook.NewSender(st, &webhook.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			m := &webhook.Message{ID: "evening", URL: "https://example.com/{{ user.id }}", Delivery: webhook.Delivery{
				Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "21:00", UserTimeZone: true,
			}}
			if err := s.SaveMessage(ctx, m); err != nil {
				b.Fatal(err)
			}
			if err := s.Start(ctx); err != nil {
				b.Fatal(err)
			}
			if err := clock.BlockUntil(ctx, 1); err != nil {
				b.Fatal(err)
			}
			before := heapAfterGC()
			start, cpu := time.Now(), cpuTime(b)
			if err := s.StartCampaign(ctx, "evening"); err != nil {
				b.Fatal(err)
			}
			if err := clock.BlockUntil(ctx, 1); err != nil {
				b.Fatal(err)
			}
			elapsed, cpu := time.Since(start), cpuTime(b)-cpu
			after := heapAfterGC()
			if c, err := s.Campaign(ctx, "evening"); err != nil || !c.NextAt.IsZero() {
				b.Fatalf("campaign = %+v, %v; want its fan-out done", c, err)
			}
			if next, ok, _ := nextDue(ctx, st); !ok || !next.After(launch) {
				b.Fatalf("next delivery due %v, %v; want deliveries pending after the start", next, ok)
			}
			report(b, elapsed, cpu, before, after)
			s.Stop(ctx)
			runtime.KeepAlive(st)
		}
	})
	b.Run("baseline enqueue", func(b *testing.B) {
		for range b.N {
			st := benchStore(b)
			before := heapAfterGC()
			start, cpu := time.Now(), cpuTime(b)
			for p := 0; p < benchUsers; p += 1000 {
				jobs := make([]*webhook.Job, 0, 1000)
				for i := p; i < p+1000; i++ {
					user := fmt.Sprintf("user-%07d", i)
					jobs = append(jobs, &webhook.Job{
						ID: fmt.Sprintf("job_%026d", i), Key: fmt.Sprintf(`["evening",%q,"campaign:1:"]`, user),
						MessageID: "evening", MessageVersion: 1, UserID: user, State: webhook.JobScheduled,
						CreatedAt: launch, DueAt: launch.Add(time.Duration(i%5) * time.Hour),
					})
				}
				if _, err := st.Enqueue(ctx, webhook.EnqueueParams{Jobs: jobs}); err != nil {
					b.Fatal(err)
				}
			}
			elapsed, cpu := time.Since(start), cpuTime(b)-cpu
			report(b, elapsed, cpu, before, heapAfterGC())
			runtime.KeepAlive(st)
		}
	})
}
