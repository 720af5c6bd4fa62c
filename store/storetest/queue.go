package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

// Rules of the optional role webhook.QueueReader.
var queueRules = []rule{
	{"QueueStatsCountsJobsByStateAsTheyChange", testQueueStatsCounts},
	{"QueueStatsOldestDueIsTheEarliestDueAtOrBeforeNow", testQueueStatsOldestDue},
}

// queueReader returns s as a QueueReader, or skips the rule.
func queueReader(t *testing.T, s webhook.Store) webhook.QueueReader {
	t.Helper()
	q, ok := s.(webhook.QueueReader)
	if !ok {
		t.Skip("the Store does not implement webhook.QueueReader, an optional role")
	}
	return q
}

// queueStats calls QueueStats at now, failing the rule if it returns an error.
func queueStats(t *testing.T, q webhook.QueueReader, now time.Time) webhook.QueueStats {
	t.Helper()
	st, err := q.QueueStats(t.Context(), webhook.QueueStatsParams{Now: now})
	must(t, "QueueStats", err)
	return st
}

func testQueueStatsCounts(t *testing.T, s webhook.Store) {
	q := queueReader(t, s)
	if got := queueStats(t, q, at(0)); got != (webhook.QueueStats{}) {
		t.Errorf("QueueStats of an empty Store = %+v, want zeros", got)
	}
	jobs := enqueue(t, s, 0, time.Minute, time.Hour)
	h := job("h", "kh", at(0))
	h.State = webhook.JobHeld
	enqueueJobs(t, s, h)
	check := func(when string, want webhook.QueueStats) {
		t.Helper()
		got := queueStats(t, q, at(-time.Hour)) // nothing is due yet
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("QueueStats %s (-want +got):\n%s", when, diff)
		}
	}
	check("after Enqueue of three scheduled jobs and a held one", webhook.QueueStats{Scheduled: 3, Held: 1})
	claimed := claim(t, s, at(2*time.Minute), "w", 2)
	check("after Claim of two", webhook.QueueStats{Scheduled: 1, Running: 2, Held: 1})
	claimed[0].State, claimed[1].State, claimed[1].DueAt = webhook.JobSucceeded, webhook.JobScheduled, at(time.Hour)
	finish(t, s, webhook.Finished{Job: claimed[0]}, webhook.Finished{Job: claimed[1]})
	check("after Finish of one as succeeded and one as scheduled for a retry", webhook.QueueStats{Scheduled: 2, Held: 1})
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{jobs[2].ID, "h"}}, From: pending, To: webhook.JobCancelled, Now: at(0)})
	check("after UpdateJobs cancelled a scheduled and a held job", webhook.QueueStats{Scheduled: 1})
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{jobs[1].ID}}, From: scheduled, To: webhook.JobHeld})
	check("after UpdateJobs held the last one", webhook.QueueStats{Held: 1})
}

func testQueueStatsOldestDue(t *testing.T, s webhook.Store) {
	q := queueReader(t, s)
	enqueue(t, s, time.Minute, 2*time.Minute+µs)
	if got := queueStats(t, q, at(time.Minute-µs)).OldestDue; !got.IsZero() {
		t.Errorf("QueueStats before any job is due: OldestDue = %v, want zero", got)
	}
	if got := queueStats(t, q, at(time.Minute)).OldestDue; !got.Equal(at(time.Minute)) {
		t.Errorf("QueueStats when the first job comes due: OldestDue = %v, want its DueAt %v", got, at(time.Minute))
	}
	if got := queueStats(t, q, at(time.Hour)).OldestDue; !got.Equal(at(time.Minute)) {
		t.Errorf("QueueStats when both are due: OldestDue = %v, want the earlier DueAt %v", got, at(time.Minute))
	}
	// The first job is leased until at(2m+1µs+30s): from then on it is due again, after the second.
	claimFor(t, s, at(2*time.Minute+µs), "w", 30*time.Second, 1)
	if got := queueStats(t, q, at(2*time.Minute+µs)).OldestDue; !got.Equal(at(2*time.Minute + µs)) {
		t.Errorf("QueueStats after Claim of the first: OldestDue = %v, want the second's DueAt %v", got, at(2*time.Minute+µs))
	}
	claimFor(t, s, at(2*time.Minute+µs), "w", 30*time.Second, 1)
	expiry := at(2*time.Minute + µs + 30*time.Second)
	if got := queueStats(t, q, expiry.Add(-µs)).OldestDue; !got.IsZero() {
		t.Errorf("QueueStats while both are leased: OldestDue = %v, want zero", got)
	}
	if got := queueStats(t, q, expiry.Add(time.Hour)).OldestDue; !got.Equal(expiry) {
		t.Errorf("QueueStats after the leases expired: OldestDue = %v, want their expiry %v, when they came due again", got, expiry)
	}
}
