package console_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/console"
)

// BenchmarkPages renders each page over memstore holding 1,000 failed jobs (one attempt
// each), through the handler without a network. The baselines are the queries alone that the
// job list and job pages make, so that page/baseline is the cost of the console on top of the
// query API.
//
//	go test ./console -run '^$' -bench Pages -benchtime 2000x
func BenchmarkPages(b *testing.B) {
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("user-%04d", i)
	}
	f := newFixture(b, nil, users...)
	failed := f.jobs(b, webhook.JobFailed)
	if len(failed) != 50 { // the first page
		b.Fatalf("%d failed jobs on the first page, want 50", len(failed))
	}
	h := console.New(f.sender, &console.Options{Clock: f.clock})
	id := failed[0].ID
	for _, p := range []struct{ name, path string }{
		{"overview", "/"},
		{"message", "/messages/m"},
		{"jobs/failed", "/jobs?message=m&state=failed"},
		{"job", "/jobs/" + id},
		{"attempts/failed", "/attempts?message=m&outcome=failed"},
		{"replay/dry-run", "/replay?message=m&state=failed"},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				if rec := get(h, p.path); rec.Code != http.StatusOK {
					b.Fatalf("GET %s = %d", p.path, rec.Code)
				}
			}
		})
	}
	b.Run("baseline/jobs-query", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.sender.Jobs(f.ctx, webhook.JobsQuery{MessageID: "m", States: []webhook.JobState{webhook.JobFailed}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline/job-query", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.sender.Job(f.ctx, id); err != nil {
				b.Fatal(err)
			}
			if _, err := f.sender.AttemptLog(f.ctx, webhook.AttemptLogQuery{JobID: id, Limit: 100}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
