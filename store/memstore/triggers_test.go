package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// The tests below are contract tests of the Store roles used by triggers and caps, written to
// move into store/storetest.

func TestTriggerRoles(t *testing.T) {
	newStore := func() webhook.Store { return memstore.New() }
	t.Run("CountSent", func(t *testing.T) { testCountSent(t, newStore) })
	t.Run("CancelUnless", func(t *testing.T) { testCancelUnless(t, newStore) })
	t.Run("FinishCancelled", func(t *testing.T) { testFinishCancelled(t, newStore) })
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// job returns a scheduled job, due and created at t0.
func job(id, userID, unless string) *webhook.Job {
	return &webhook.Job{ID: id, Key: id, MessageID: "m", MessageVersion: 1, UserID: userID, Unless: unless,
		State: webhook.JobScheduled, CreatedAt: t0, DueAt: t0}
}

// claimAll enqueues jobs and claims them all at now.
func claimAll(tb testing.TB, s webhook.Store, now time.Time, jobs ...*webhook.Job) map[string]*webhook.Job {
	tb.Helper()
	ctx := context.Background()
	if err := s.Enqueue(ctx, jobs); err != nil {
		tb.Fatal(err)
	}
	claimed, err := s.Claim(ctx, now, "owner", time.Hour, len(jobs))
	if err != nil || len(claimed) != len(jobs) {
		tb.Fatalf("Claim = %d jobs, %v; want %d", len(claimed), err, len(jobs))
	}
	out := map[string]*webhook.Job{}
	for _, j := range claimed {
		out[j.ID] = j
	}
	return out
}

// testCountSent checks CountSent: succeeded attempts of a user at or after a time, of one
// message or of all but IgnoreCaps ones, whatever order they were recorded in.
func testCountSent(t *testing.T, newStore func() webhook.Store) {
	ctx := context.Background()
	s := newStore()
	var jobs []*webhook.Job
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		jobs = append(jobs, job(id, "u1", ""))
	}
	jobs[3].MessageID = "exempt"
	jobs[7].UserID = "u2"
	claimed := claimAll(t, s, t0, jobs...)
	finish := func(id string, at time.Duration, outcome webhook.Outcome, ignoreCaps bool) {
		t.Helper()
		j := claimed[id]
		j.State, j.Attempts = webhook.JobSucceeded, 1
		if outcome == webhook.Retrying {
			j.State = webhook.JobScheduled
		}
		a := &webhook.Attempt{DeliveryID: id, MessageID: j.MessageID, UserID: j.UserID, Number: 1,
			Time: t0.Add(at), Outcome: outcome, IgnoreCaps: ignoreCaps}
		if err := s.Finish(ctx, j, a); err != nil {
			t.Fatal(err)
		}
	}
	// Recorded out of time order on purpose.
	finish("c", 3*time.Hour, webhook.Succeeded, false)
	finish("a", 1*time.Hour, webhook.Succeeded, false)
	finish("b", 2*time.Hour, webhook.Succeeded, false)
	finish("d", 2*time.Hour, webhook.Succeeded, true) // exempt
	finish("e", 2*time.Hour, webhook.Retrying, false)
	finish("f", 2*time.Hour, webhook.Failed, false)
	finish("g", 2*time.Hour, webhook.Skipped, false)
	finish("h", 2*time.Hour, webhook.Succeeded, false) // another user
	for _, tt := range []struct {
		user, message string
		since         time.Duration
		want          int
	}{
		{"u1", "", 0, 3},
		{"u1", "", time.Hour, 3}, // at since counts
		{"u1", "", time.Hour + 1, 2},
		{"u1", "", 2 * time.Hour, 2},
		{"u1", "", 3*time.Hour + 1, 0},
		{"u2", "", 0, 1},
		{"nobody", "", 0, 0},
		{"u1", "m", 0, 3},
		{"u1", "m", 2 * time.Hour, 2},
		{"u1", "exempt", 0, 1}, // IgnoreCaps counts when the message is named
		{"u1", "other", 0, 0},
	} {
		got, err := s.CountSent(ctx, tt.user, tt.message, t0.Add(tt.since))
		if err != nil || got != tt.want {
			t.Errorf("CountSent(%q, %q, t0+%v) = %d, %v; want %d (succeeded attempts of that user at or after since: of that message, or of all but IgnoreCaps ones)",
				tt.user, tt.message, tt.since, got, err, tt.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.CountSent(cctx, "u1", "", t0); !errors.Is(err, context.Canceled) {
		t.Errorf("CountSent(cancelled context) = %v, want context.Canceled", err)
	}
}

// testCancelUnless checks Cancel with JobFilter.Unless: only the user's scheduled jobs with
// that Unless event, enqueued before CreatedBefore; running jobs are left, and caught once a
// retry puts them back.
func testCancelUnless(t *testing.T, newStore func() webhook.Store) {
	ctx := context.Background()
	s := newStore()
	late := job("late", "u1", "purchase")
	late.CreatedAt = t0.Add(time.Minute)
	jobs := []*webhook.Job{
		job("hit", "u1", "purchase"), job("other-event", "u1", "visit"), job("no-unless", "u1", ""),
		job("other-user", "u2", "purchase"), late,
	}
	if err := s.Enqueue(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	running := job("running", "u1", "purchase")
	running.DueAt = t0.Add(-time.Second)
	claimed := claimAll(t, s, t0.Add(-time.Second), running)["running"]

	f := webhook.JobFilter{UserID: "u1", Unless: "purchase", CreatedBefore: t0.Add(time.Second)}
	got, err := s.Cancel(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "hit" || got[0].State != webhook.JobCancelled {
		t.Fatalf("Cancel(%+v) = %+v, want only job hit, cancelled", f, got)
	}
	for id, want := range map[string]webhook.JobState{
		"hit": webhook.JobCancelled, "other-event": webhook.JobScheduled, "no-unless": webhook.JobScheduled,
		"other-user": webhook.JobScheduled, "late": webhook.JobScheduled, "running": webhook.JobRunning,
	} {
		if j, err := s.Job(ctx, id); err != nil || j.State != want {
			t.Errorf("after Cancel, job %s: %v, %v; want state %s", id, j, err, want)
		}
	}
	if got, err := s.Cancel(ctx, f); err != nil || len(got) != 0 {
		t.Errorf("second Cancel = %+v, %v; want nothing", got, err)
	}
	// The running job fails and is scheduled for a retry: now it is cancelled.
	claimed.State, claimed.Attempts, claimed.DueAt = webhook.JobScheduled, 1, t0.Add(time.Minute)
	if err := s.Finish(ctx, claimed, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Cancel(ctx, f); err != nil || len(got) != 1 || got[0].ID != "running" {
		t.Errorf("Cancel after the retry was scheduled = %+v, %v; want job running", got, err)
	}
	if _, err := s.Cancel(ctx, webhook.JobFilter{Unless: "purchase"}); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("Cancel(Unless only) = %v, want ErrInvalid", err)
	}
}

// testFinishCancelled checks that Finish of a cancelled job records its Cancelled attempt,
// returns ErrLeaseLost and leaves the job cancelled.
func testFinishCancelled(t *testing.T, newStore func() webhook.Store) {
	ctx := context.Background()
	s := newStore()
	if err := s.Enqueue(ctx, []*webhook.Job{job("j", "u1", "purchase")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Cancel(ctx, webhook.JobFilter{UserID: "u1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("Cancel = %+v, %v", got, err)
	}
	a := &webhook.Attempt{DeliveryID: "j", MessageID: "m", UserID: "u1", Number: 1, Time: t0, Outcome: webhook.Cancelled}
	if err := s.Finish(ctx, got[0], a); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("Finish(cancelled job) = %v, want ErrLeaseLost", err)
	}
	as, err := s.Attempts(ctx, webhook.AttemptFilter{DeliveryID: "j"})
	if err != nil || len(as) != 1 || as[0].Outcome != webhook.Cancelled {
		t.Errorf("attempt log = %+v, %v; want the Cancelled attempt", as, err)
	}
	if j, err := s.Job(ctx, "j"); err != nil || j.State != webhook.JobCancelled {
		t.Errorf("job after Finish = %+v, %v; want cancelled", j, err)
	}
}
