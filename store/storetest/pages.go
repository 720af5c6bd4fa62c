package storetest

import (
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/webhooktest"
)

// pagesNow is the time of the data set of BenchPages: its jobs were created over the 30 days
// before it.
var pagesNow = at(30 * 24 * time.Hour)

// PagesData returns the data set of [BenchPages]: n jobs created over 30 days, the oldest
// first, of 100 messages (m00 to m99) to 200,000 users, each with one attempt a second after
// it was created. Of every 200 jobs of a message, 180 succeeded, 10 failed, 6 were skipped, 2 cancelled,
// 1 is scheduled (a retry, due when it was created) and 1 held; their attempts went to 50
// hosts, except those of skipped and cancelled jobs, which made no request.
//
// A Store's benchmark saves them as fast as it can, not through the Store contract: with
// COPY, or multi-row inserts in one transaction.
func PagesData(n int) (jobs iter.Seq[*webhook.Job], attempts iter.Seq[*webhook.Attempt]) {
	step := 30 * 24 * time.Hour / time.Duration(n)
	created := func(i int) time.Time {
		return pagesNow.Add(-30 * 24 * time.Hour).Add(time.Duration(i) * step).Truncate(time.Microsecond)
	}
	state := func(i int) webhook.JobState {
		switch k := i / 100 % 200; {
		case k < 180:
			return webhook.JobSucceeded
		case k < 190:
			return webhook.JobFailed
		case k < 196:
			return webhook.JobSkipped
		case k < 198:
			return webhook.JobCancelled
		case k == 198:
			return webhook.JobScheduled
		}
		return webhook.JobHeld
	}
	jobs = func(yield func(*webhook.Job) bool) {
		for i := range n {
			j := &webhook.Job{
				ID: fmt.Sprintf("j%08d", i), Key: fmt.Sprintf("k%08d", i), MessageID: fmt.Sprintf("m%02d", i%100), MessageVersion: 1,
				UserID: fmt.Sprintf("u%06d", i%200_000), State: state(i), Attempts: 1, CreatedAt: created(i), DueAt: created(i),
			}
			if j.State == webhook.JobHeld {
				j.Attempts = 0
			}
			if !yield(j) {
				return
			}
		}
	}
	attempts = func(yield func(*webhook.Attempt) bool) {
		for i := range n {
			a := &webhook.Attempt{
				JobID: fmt.Sprintf("j%08d", i), MessageID: fmt.Sprintf("m%02d", i%100), MessageVersion: 1,
				UserID: fmt.Sprintf("u%06d", i%200_000), Number: 1, Time: created(i).Add(time.Second), Duration: 40 * time.Millisecond,
			}
			switch state(i) {
			case webhook.JobSucceeded:
				a.Outcome, a.StatusCode = webhook.Succeeded, 200
			case webhook.JobFailed:
				a.Outcome, a.StatusCode, a.Err = webhook.Failed, 410, "unexpected status 410 Gone"
			case webhook.JobSkipped:
				a.Outcome, a.Err = webhook.Skipped, "the user is not in the message's audience"
			case webhook.JobCancelled:
				a.Outcome, a.Err = webhook.Cancelled, "campaign cancelled"
			default:
				a.Outcome, a.StatusCode, a.Err, a.NextAttemptAt = webhook.Retrying, 503, "unexpected status 503", created(i)
			}
			if a.Outcome != webhook.Skipped && a.Outcome != webhook.Cancelled {
				a.Host = fmt.Sprintf("h%02d.example.com", i%50)
				a.Method, a.URL, a.RequestBody = "POST", "https://"+a.Host+"/hook", fmt.Sprintf(`{"n":%d}`, i)
				a.ResponseBody = "ok"
			}
			if !yield(a) {
				return
			}
		}
	}
	return jobs, attempts
}

// BenchPages measures the queries of the pages of an operator's console through a
// [webhook.Sender] over s, which the caller filled with PagesData(n), in sub-benchmarks of
// one page each per iteration:
//
//   - Overview: JobCounts of every message, Hosts over the last 24 hours, QueueStats;
//   - FailedList: the first page of the failed jobs of one message, and of the failed
//     attempts;
//   - Job: one job, and its attempts.
//
// Each reports the 50th and 95th percentiles of its iterations, p50-ms and p95-ms. Run
// about 100 iterations (-benchtime 100x) for a steady p95.
func BenchPages(b *testing.B, s webhook.Store, n int) {
	sender, _ := webhooktest.NewSender(b, s, &webhook.Config{Clock: webhooktest.NewFakeClock(pagesNow)})
	ctx := b.Context()
	page := func(name string, load func(i int) error) {
		b.Run(name, func(b *testing.B) {
			var took []time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				if err := load(i); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				i++
			}
			slices.Sort(took)
			ms := func(q float64) float64 {
				return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.95), "p95-ms")
		})
	}
	page("Overview", func(int) error {
		cs, err := sender.JobCounts(ctx)
		if err == nil && len(cs) != min(n, 100) {
			err = fmt.Errorf("JobCounts = %d messages, want %d", len(cs), min(n, 100))
		}
		if err == nil {
			_, err = sender.Hosts(ctx, pagesNow.Add(-24*time.Hour))
		}
		if err == nil {
			_, err = sender.QueueStats(ctx)
		}
		return err
	})
	page("FailedList", func(int) error {
		jobs, err := sender.Jobs(ctx, webhook.JobsQuery{MessageID: "m07", States: []webhook.JobState{webhook.JobFailed}})
		if err == nil && n >= 100*200*5 && len(jobs.Jobs) != 50 {
			err = fmt.Errorf("Jobs of m07 that failed = %d, want a page of 50", len(jobs.Jobs))
		}
		if err == nil {
			_, err = sender.AttemptLog(ctx, webhook.AttemptLogQuery{Outcomes: []webhook.Outcome{webhook.Failed}})
		}
		return err
	})
	page("Job", func(i int) error {
		id := fmt.Sprintf("j%08d", (i*7919)%n)
		if _, err := sender.Job(ctx, id); err != nil {
			return err
		}
		log, err := sender.AttemptLog(ctx, webhook.AttemptLogQuery{JobID: id})
		if err == nil && len(log.Attempts) != 1 {
			err = fmt.Errorf("AttemptLog of job %s = %d attempts, want 1", id, len(log.Attempts))
		}
		return err
	})
}
