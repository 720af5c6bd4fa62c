package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
)

// TestClaimConcurrent checks that claimers on separate pools never get the same job.
func TestClaimConcurrent(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	const n, claimers = 300, 4
	jobs := make([]*webhook.Job, n)
	for i := range jobs {
		jobs[i] = newJob(i, epoch.Add(time.Duration(i%7)*time.Second))
	}
	enqueue(t, pgstore.New(newPool(t, schema)), jobs...)
	got := leaseAll(t, schema, claimers, func(s *pgstore.Store, owner string) ([]string, error) {
		res, err := s.Claim(ctx, webhook.ClaimParams{Now: epoch.Add(time.Minute), Owner: owner, Lease: time.Hour, Limit: 7})
		ids := make([]string, len(res.Jobs))
		for i, j := range res.Jobs {
			ids[i] = j.ID
		}
		return ids, err
	})
	if len(got) != n {
		t.Errorf("claimed %d jobs, want %d", len(got), n)
	}
}

func TestClaimNextDue(t *testing.T) {
	s := newStore(t)
	enqueue(t, s, newJob(1, epoch), newJob(2, epoch.Add(time.Second)), newJob(3, epoch.Add(time.Hour)))
	if res := claim(t, s, epoch, "a", 1); len(res.Jobs) != 1 || !res.NextDue.IsZero() {
		t.Errorf("Claim of as many jobs as the limit = %v, NextDue %v; want job_0001 and no NextDue", res.Jobs, res.NextDue)
	}
	res := claim(t, s, epoch.Add(time.Second), "a", 10)
	if len(res.Jobs) != 1 || res.Jobs[0].ID != "job_0002" || !res.NextDue.Equal(epoch.Add(time.Minute)) {
		t.Errorf("Claim = %v, NextDue %v; want job_0002, and NextDue at the first lease's expiry", res.Jobs, res.NextDue)
	}
	res = claim(t, s, epoch.Add(10*time.Minute), "b", 10)
	if len(res.Jobs) != 2 || !res.NextDue.Equal(epoch.Add(time.Hour)) {
		t.Errorf("Claim after the leases expired = %v, NextDue %v; want both again, and NextDue at job_0003's due time, not at the leases it gave", res.Jobs, res.NextDue)
	}
	for _, j := range res.Jobs {
		j.State = webhook.JobSucceeded
		if errs, err := s.Finish(context.Background(), webhook.FinishParams{Jobs: []webhook.Finished{{Job: j}}}); err != nil || errs[0] != nil {
			t.Fatalf("Finish = %v, %v", errs, err)
		}
	}
	if res := claim(t, s, epoch.Add(10*time.Minute), "b", 10); len(res.Jobs) != 0 || !res.NextDue.Equal(epoch.Add(time.Hour)) {
		t.Errorf("Claim with nothing due = %v, NextDue %v; want none, and NextDue at job_0003's due time", res.Jobs, res.NextDue)
	}
	enqueue(t, s, newJob(4, epoch.Add(time.Minute)))
	if res := claim(t, s, epoch.Add(10*time.Minute), "b", 10); len(res.Jobs) != 1 || !res.NextDue.Equal(epoch.Add(time.Hour)) {
		t.Errorf("Claim = %v, NextDue %v; want job_0004, and NextDue at job_0003's due time", res.Jobs, res.NextDue)
	}
}

func TestLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	enqueue(t, s, newJob(1, epoch), newJob(2, epoch.Add(time.Second)))
	first := claim(t, s, epoch.Add(time.Second), "a", 10).Jobs
	if len(first) != 2 || first[0].ID != "job_0001" {
		t.Fatalf("Claim = %v; want both jobs, earliest first", first)
	}
	if js := claim(t, s, epoch.Add(time.Minute), "b", 10).Jobs; len(js) != 0 {
		t.Fatalf("Claim before lease expiry = %v; want none", js)
	}
	second := claim(t, s, epoch.Add(2*time.Minute), "b", 1).Jobs
	if len(second) != 1 || second[0].LeaseOwner != "b" {
		t.Fatalf("Claim after expiry = %v; want one job leased to b", second)
	}
	stale := first[0]
	stale.State = webhook.JobSucceeded
	missing := newJob(9, epoch)
	errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: []webhook.Finished{
		{Job: stale, Attempt: &webhook.Attempt{JobID: stale.ID, Time: epoch, Outcome: webhook.Succeeded}},
		{Job: missing},
	}})
	if err != nil || !errors.Is(errs[0], webhook.ErrLeaseLost) || !errors.Is(errs[1], webhook.ErrNotFound) {
		t.Errorf("Finish of a stale and an unknown job = %v, %v; want ErrLeaseLost, ErrNotFound", errs, err)
	}
	if as := attemptsOf(t, s, stale.ID); len(as) != 1 {
		t.Errorf("stale Finish logged %d attempts, want 1", len(as))
	}
}

func TestEnqueueDedupe(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, b, c := newJob(1, epoch), newJob(2, epoch), newJob(3, epoch)
	b.Key = a.Key
	e := webhook.Event{ID: "e", UserID: "u", Name: "order", Time: epoch}
	res, err := s.Enqueue(ctx, webhook.EnqueueParams{Events: []webhook.Event{e, e}, Jobs: []*webhook.Job{a, b}})
	if err != nil || !slices.Equal(res.JobIDs, []string{a.ID, a.ID}) {
		t.Fatalf("Enqueue(a, b with a's key) = %v, %v; want a's ID twice", res.JobIDs, err)
	}
	c.Key = a.Key
	res, err = s.Enqueue(ctx, webhook.EnqueueParams{Events: []webhook.Event{e}, Jobs: []*webhook.Job{c, newJob(4, epoch)}})
	if err != nil || !slices.Equal(res.JobIDs, []string{a.ID, "job_0004"}) {
		t.Fatalf("Enqueue(c with a's key, job_0004) = %v, %v; want a's ID, then job_0004", res.JobIDs, err)
	}
	if js := claim(t, s, epoch, "me", 10).Jobs; len(js) != 2 || js[0].ID != a.ID {
		t.Fatalf("Claim = %v; want a and job_0004 only", js)
	}
	if events, err := s.Events(ctx, webhook.EventQuery{UserID: "u"}); err != nil || len(events) != 1 {
		t.Errorf("Events = %v, %v; want the event once", events, err)
	}
}

func TestUpdateJobs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	jobs := []*webhook.Job{newJob(1, epoch), newJob(2, epoch), newJob(3, epoch)}
	jobs[1].Unless, jobs[2].Unless = "cancel", "cancel"
	jobs[2].UserID = jobs[1].UserID
	enqueue(t, s, jobs...)
	for _, p := range []webhook.UpdateJobsParams{
		{From: []webhook.JobState{webhook.JobScheduled}, To: webhook.JobHeld},
		{Filter: webhook.JobFilter{UserID: "u1"}, From: []webhook.JobState{webhook.JobRunning}, To: webhook.JobHeld},
		{Filter: webhook.JobFilter{UserID: "u1"}, From: []webhook.JobState{webhook.JobScheduled}, To: webhook.JobRunning},
		{Filter: webhook.JobFilter{UserID: "u1"}, From: []webhook.JobState{webhook.JobScheduled}, To: "lost"},
	} {
		if _, err := s.UpdateJobs(ctx, p); !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("UpdateJobs(%+v) error = %v, want ErrInvalid", p, err)
		}
	}
	// Held, then cancelled by an Unless event: logged as cancelled, in the same change.
	held, err := s.UpdateJobs(ctx, webhook.UpdateJobsParams{Filter: webhook.JobFilter{MessageID: "m"},
		From: []webhook.JobState{webhook.JobScheduled}, To: webhook.JobHeld})
	if err != nil || len(held) != 3 || held[0].State != webhook.JobHeld {
		t.Fatalf("UpdateJobs(hold m) = %v, %v; want all three held", held, err)
	}
	got, err := s.UpdateJobs(ctx, webhook.UpdateJobsParams{
		Filter: webhook.JobFilter{UserID: "u2", Unless: "cancel", CreatedBefore: epoch.Add(time.Nanosecond)},
		From:   []webhook.JobState{webhook.JobScheduled, webhook.JobHeld}, To: webhook.JobCancelled,
		Now: epoch.Add(time.Hour), Reason: "cancelled by event",
	})
	if err != nil || len(got) != 2 || got[0].ID != "job_0002" || got[1].ID != "job_0003" || got[0].State != webhook.JobCancelled {
		t.Fatalf("UpdateJobs(cancel u2's by Unless) = %v, %v; want job_0002 and job_0003 cancelled", got, err)
	}
	want := []webhook.Attempt{{JobID: "job_0003", MessageID: "m", MessageVersion: 1, UserID: "u2", Number: 1,
		Time: epoch.Add(time.Hour), Err: "cancelled by event", Outcome: webhook.Cancelled}}
	if diff := cmp.Diff(want, attemptsOf(t, s, "job_0003")); diff != "" {
		t.Errorf("attempt of a cancelled job (-want +got):\n%s", diff)
	}
	// Released with a new due time: claimable.
	got, err = s.UpdateJobs(ctx, webhook.UpdateJobsParams{Filter: webhook.JobFilter{MessageID: "m"},
		From: []webhook.JobState{webhook.JobHeld}, To: webhook.JobScheduled, DueAt: epoch.Add(time.Minute)})
	if err != nil || len(got) != 1 || got[0].ID != "job_0001" || !got[0].DueAt.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("UpdateJobs(release m) = %v, %v; want job_0001, due a minute later", got, err)
	}
	if js := claim(t, s, epoch.Add(time.Minute), "me", 10).Jobs; len(js) != 1 || js[0].ID != "job_0001" {
		t.Errorf("Claim after the release = %v, want only job_0001", js)
	}
}

// TestNotifications checks that an enqueue through one pool wakes a listener on another,
// and that the listener's channel is closed when its context ends.
func TestNotifications(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	schema := newSchema(t)
	listener := pgstore.New(newPool(t, schema))
	lctx, stop := context.WithCancel(ctx)
	ch := listener.Notifications(lctx)
	select {
	case <-ch: // the first value comes when it starts listening
	case <-ctx.Done():
		t.Fatal("no notification on start")
	}
	enqueue(t, pgstore.New(newPool(t, schema)), newJob(1, epoch))
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("no notification after Enqueue")
	}
	stop()
	for range ch {
	}
}

// TestUpdateJobsAtOnce checks that UpdateJobs calls made at once, by message and by user, over
// the same jobs, wait for each other rather than deadlock: each locks the jobs it moves in ID
// order, whatever order the rows are found in after earlier moves.
func TestUpdateJobsAtOnce(t *testing.T) {
	testMovesAtOnce(t, false)
}

// TestReplayJobsAtOnce checks the same of ReplayJobs calls made at once, by message and by
// user, with UpdateJobs calls that fail the jobs again.
func TestReplayJobsAtOnce(t *testing.T) {
	testMovesAtOnce(t, true)
}

// testMovesAtOnce makes UpdateJobs calls (that hold and schedule jobs, or with replay, that
// fail them) and, with replay, ReplayJobs calls, by message and by user, from four pools at
// once, over the same jobs, and fails the test if one returns an error.
func testMovesAtOnce(t *testing.T, replay bool) {
	ctx := context.Background()
	schema := newSchema(t)
	const n, movers, calls = 400, 4, 30
	jobs := make([]*webhook.Job, n)
	for i := range jobs {
		jobs[i] = newJob(i, epoch)
		jobs[i].MessageID, jobs[i].UserID = []string{"m1", "m2"}[i%2], []string{"u1", "u2", "u3"}[i%3]
	}
	enqueue(t, pgstore.New(newPool(t, schema)), jobs...)
	errs := make([]error, movers)
	var wg sync.WaitGroup
	for w := range movers {
		s := pgstore.New(newPool(t, schema))
		wg.Go(func() {
			for i := range calls {
				p := webhook.UpdateJobsParams{From: []webhook.JobState{webhook.JobScheduled}, To: webhook.JobHeld}
				if i%2 == 1 {
					p.From, p.To = []webhook.JobState{webhook.JobHeld}, webhook.JobScheduled
				}
				if (i+w)%2 == 0 {
					p.Filter.MessageID = "m1"
				} else {
					p.Filter.UserID = "u1"
				}
				if replay && i%2 == 1 { // replay the jobs that the call before failed
					q := webhook.JobsQuery{MessageID: p.Filter.MessageID, UserID: p.Filter.UserID, States: []webhook.JobState{webhook.JobFailed}}
					if _, err := s.ReplayJobs(ctx, webhook.ReplayJobsParams{Query: q, Now: epoch}); err != nil {
						errs[w] = err
						return
					}
					continue
				}
				if replay {
					p.To = webhook.JobFailed
				}
				if _, err := s.UpdateJobs(ctx, p); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("moves at once by message and by user: %v", err)
		}
	}
}
