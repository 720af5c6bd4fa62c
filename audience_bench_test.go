package webhook_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

// BenchmarkAudienceSize evaluates audiences over 1,000,000 memstore users, a third of them
// gold, with 0 to 3 purchases each (20 days apart). "everyone" (the zero Audience) is the
// baseline: the cost of paging the users. Besides wall time it reports CPU time per user,
// which other processes on a shared machine do not inflate.
func BenchmarkAudienceSize(b *testing.B) {
	const users = 1_000_000
	p := newPopulation(b)
	plans := []string{"free", "silver", "gold"}
	for i := range users {
		id := fmt.Sprintf("user-%07d", i)
		u := webhook.User{ID: id, Attributes: webhook.Map{"plan": plans[i%3], "age": int64(18 + i%60)}}
		if err := putUser(p.ctx, p.store, u); err != nil {
			b.Fatal(err)
		}
		for k := range i % 4 {
			e := webhook.Event{ID: fmt.Sprint(k), UserID: id, Name: "purchase", Time: epoch.Add(-time.Duration(k) * 20 * days)}
			if _, err := p.store.Enqueue(p.ctx, webhook.EnqueueParams{Events: []webhook.Event{e}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, bc := range []struct {
		name string
		a    webhook.Audience
	}{
		{"everyone", webhook.Audience{}},
		{"three-criteria", webhook.All(
			webhook.Attr("plan", webhook.OpEq, "gold"),
			webhook.Attr("age", webhook.OpBetween, []any{25, 50}),
			webhook.Did("purchase", 30*days, webhook.OpGte, 1),
		)},
		{"three-criteria-event-first", webhook.All(
			webhook.Did("purchase", 30*days, webhook.OpGte, 1),
			webhook.Any(webhook.Attr("plan", webhook.OpEq, "gold"), webhook.Did("purchase", 30*days, webhook.OpGte, 2)),
			webhook.Attr("age", webhook.OpBetween, []any{25, 50}),
		)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			cpu := cpuTime(b)
			for b.Loop() {
				n = p.size(b, bc.a)
			}
			cpu = cpuTime(b) - cpu
			b.ReportMetric(float64(users*b.N)/b.Elapsed().Seconds(), "users/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(users*b.N), "cpu-ns/user")
			b.ReportMetric(float64(n), "matched")
		})
	}
}
