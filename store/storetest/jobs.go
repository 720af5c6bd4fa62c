package storetest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var jobRules = []rule{
	{"EnqueueSavesJobsAsGiven", testEnqueueRoundTrip},
	{"EnqueueSavesAJobOncePerKeyAndReturnsTheIDHeldUnderIt", testEnqueueDedupes},
	{"EnqueueSavesAJobOncePerKeyWhenCalledAtOnce", testEnqueueConcurrent},
	{"EnqueueShowsNoJobBeforeItsEvents", testEnqueueAtomic},
	{"ClaimReturnsOnlyDueJobs", testClaimOnlyDue},
	{"ClaimReturnsEarliestDueFirstThenByID", testClaimOrder},
	{"ClaimLeasesToTheOwnerUntilNowPlusLease", testClaimLease},
	{"ClaimUsesTheTimeItIsGiven", testClaimTime},
	{"ClaimNeverGivesAJobToTwoClaimers", testClaimConcurrent},
	{"ClaimTakesAJobWhoseLeaseExpiredAndTheStaleFinishIsErrLeaseLost", testLeaseExpiry},
	{"ExpiredLeaseIsDueFromItsExpiry", testExpiredLeaseOrder},
	{"ClaimNextDueIsWhenTheFirstJobNotClaimedIsDue", testClaimNextDue},
	{"FinishSavesStateAttemptsDueAtAndRequestAndReleases", testFinish},
	{"FinishReturnsAnErrorPerItemAndRecordsEveryAttempt", testFinishBatch},
	{"SecondFinishOfAClaimIsErrLeaseLost", testFinishTwice},
	{"FinishSavesForTheOwnerAfterItsLeaseExpired", testFinishExpired},
	{"RetryIsDueExactlyAtItsDueTime", testRetryDue},
	{"FinishWithNoRequestClearsTheSavedOne", testFinishClearsRequest},
	{"FinishSavesTheUserUpdateWithTheAttempt", testFinishUser},
	{"UpdateJobsHoldsJobsKeepingTheirDueAt", testHoldJobs},
	{"UpdateJobsSchedulesJobsAtTheirDueAtOrTheNewOne", testScheduleJobs},
	{"UpdateJobsCancelRecordsACancelledAttemptAndClearsTheRequest", testCancelJobs},
	{"UpdateJobsMovesTheJobsTheFilterSelectsFromTheStatesGiven", testUpdateJobsFilter},
	{"UpdateJobsCountsAZeroCreatedAtAsBeforeEveryTime", testUpdateJobsZeroCreatedAt},
	{"UpdateJobsRefusesAFilterWithoutJobMessageOrUser", testUpdateJobsNoFilter},
	{"UpdateJobsRefusesToMoveRunningJobs", testUpdateJobsRunning},
	{"JobsSelectsByFilterAndStates", testJobsQuery},
	{"JobsPagesByID", testJobsPaging},
}

// job returns a scheduled job of message m1 to user u1, due at due.
func job(id, key string, due time.Time) *webhook.Job {
	return &webhook.Job{
		ID: id, Key: key, MessageID: "m1", MessageVersion: 2, UserID: "u1",
		Params: webhook.Map{"n": int64(1), "list": []any{"x", 1.5}},
		State:  webhook.JobScheduled, CreatedAt: at(-time.Hour), DueAt: due,
	}
}

// request returns a rendered request of job id, with credentials in it.
func request(id string) *webhook.Request {
	return &webhook.Request{
		Method: "POST", URL: "https://example.com/hook?a=1",
		Header: http.Header{"Authorization": {"Basic eDp5"}, "X-Multi": {"1", "2"}, "Webhook-Id": {id}},
		Body:   []byte("{\"a\":\x00\xff}"),
	}
}

// enqueueJobs saves jobs with one Enqueue, and fails the rule unless it returns their own IDs.
func enqueueJobs(t *testing.T, s webhook.Store, jobs ...*webhook.Job) {
	t.Helper()
	res, err := s.Enqueue(t.Context(), webhook.EnqueueParams{Jobs: jobs})
	must(t, "Enqueue", err)
	if diff := cmp.Diff(ids(jobs), res.JobIDs, diffOpts...); diff != "" {
		t.Fatalf("Enqueue of jobs with new keys must return their own IDs (-want +got):\n%s", diff)
	}
}

// enqueue saves jobs due at epoch plus each of dues, with IDs j0, j1, ... and keys k0, ...
func enqueue(t *testing.T, s webhook.Store, dues ...time.Duration) []*webhook.Job {
	t.Helper()
	jobs := make([]*webhook.Job, len(dues))
	for i, d := range dues {
		jobs[i] = job(fmt.Sprintf("j%d", i), fmt.Sprintf("k%d", i), at(d))
	}
	enqueueJobs(t, s, jobs...)
	return jobs
}

// claimFor claims up to limit jobs at now for owner with the given lease.
func claimFor(t *testing.T, s webhook.Store, now time.Time, owner string, lease time.Duration, limit int) webhook.ClaimResult {
	t.Helper()
	res, err := s.Claim(t.Context(), webhook.ClaimParams{Now: now, Owner: owner, Lease: lease, Limit: limit})
	must(t, "Claim", err)
	return res
}

// claim claims up to limit jobs at now for owner with a one-minute lease and returns them.
func claim(t *testing.T, s webhook.Store, now time.Time, owner string, limit int) []*webhook.Job {
	t.Helper()
	return claimFor(t, s, now, owner, time.Minute, limit).Jobs
}

// ids returns the IDs of jobs.
func ids(jobs []*webhook.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// jobs returns the jobs q selects.
func jobs(t *testing.T, s webhook.Store, q webhook.JobQuery) []*webhook.Job {
	t.Helper()
	js, err := s.Jobs(t.Context(), q)
	must(t, "Jobs", err)
	return js
}

// byID returns the query of the jobs with these IDs.
func byID(ids ...string) webhook.JobQuery {
	return webhook.JobQuery{JobFilter: webhook.JobFilter{IDs: ids}}
}

// checkJob fails the rule if the Store's job with want's ID is not want.
func checkJob(t *testing.T, s webhook.Store, when string, want *webhook.Job) {
	t.Helper()
	got := jobs(t, s, byID(want.ID))
	if len(got) != 1 {
		t.Errorf("%s: Jobs(IDs: [%s]) = %v, want that job", when, want.ID, ids(got))
		return
	}
	if diff := cmp.Diff(want, got[0], diffOpts...); diff != "" {
		t.Errorf("%s: Jobs(IDs: [%s]) (-want +got):\n%s", when, want.ID, diff)
	}
}

// checkState fails the rule unless the Store's job id is in state want.
func checkState(t *testing.T, s webhook.Store, when, id string, want webhook.JobState) {
	t.Helper()
	if got := jobs(t, s, byID(id)); len(got) != 1 || got[0].State != want {
		t.Errorf("%s: Jobs(IDs: [%s]) = %+v, want the job in state %s", when, id, got, want)
	}
}

// finish calls Finish with items and returns its errors, one per item.
func finish(t *testing.T, s webhook.Store, items ...webhook.Finished) []error {
	t.Helper()
	errs, err := s.Finish(t.Context(), webhook.FinishParams{Jobs: items})
	must(t, "Finish", err)
	if len(errs) != len(items) {
		t.Fatalf("Finish of %d items returned %d errors %v, want one per item", len(items), len(errs), errs)
	}
	return errs
}

// finishOne finishes one job, with attempt a if not nil, and returns the item's error.
func finishOne(t *testing.T, s webhook.Store, j *webhook.Job, a *webhook.Attempt) error {
	t.Helper()
	return finish(t, s, webhook.Finished{Job: j, Attempt: a})[0]
}

// updateJobs calls UpdateJobs, failing the rule if it returns an error.
func updateJobs(t *testing.T, s webhook.Store, p webhook.UpdateJobsParams) []*webhook.Job {
	t.Helper()
	js, err := s.UpdateJobs(t.Context(), p)
	must(t, "UpdateJobs", err)
	return js
}

var (
	pending   = []webhook.JobState{webhook.JobScheduled, webhook.JobHeld}
	scheduled = []webhook.JobState{webhook.JobScheduled}
	held      = []webhook.JobState{webhook.JobHeld}
)

func testEnqueueRoundTrip(t *testing.T, s webhook.Store) {
	e := webhook.Event{ID: "e1", UserID: "u1", Name: "purchase", Time: at(-time.Minute), Params: webhook.Map{"order": "o-1"}}
	j := job("j1", "k1", at(0))
	j.Event = &webhook.Event{ID: "e1", UserID: "u1", Name: "purchase", Time: at(-time.Minute)}
	j.Params, j.Unless, j.Trace, j.Variant = e.Params, "refund", traceContext(), "B"
	h := job("h1", "kh", at(time.Hour+µs))
	h.State, h.MessageID, h.MessageVersion, h.UserID, h.Params, h.Variant = webhook.JobHeld, "m2", 7, "u2", nil, webhook.ControlGroup
	res, err := s.Enqueue(t.Context(), webhook.EnqueueParams{Events: []webhook.Event{e}, Jobs: []*webhook.Job{j, h}})
	must(t, "Enqueue", err)
	if diff := cmp.Diff([]string{"j1", "h1"}, res.JobIDs, diffOpts...); diff != "" {
		t.Errorf("Enqueue must return the ID of each job saved (-want +got):\n%s", diff)
	}
	wantJ, wantH := *j, *h
	j.State, j.DueAt, h.UserID = webhook.JobFailed, at(time.Hour), "changed" // the Store keeps what was saved, not the pointers
	checkJob(t, s, "after Enqueue", &wantJ)
	checkJob(t, s, "after Enqueue of a held job", &wantH)
	if diff := cmp.Diff([]webhook.Event{e}, events(t, s, webhook.EventQuery{UserID: "u1"}), diffOpts...); diff != "" {
		t.Errorf("Enqueue with events and jobs must save the events too (-want +got):\n%s", diff)
	}
	if got := claim(t, s, at(0), "w", 1); len(got) != 1 || !cmp.Equal(got[0].Trace, wantJ.Trace) {
		t.Errorf("Claim = %+v, want j1 with the Trace it was enqueued with, %v", got, wantJ.Trace)
	}
}

// traceContext returns a W3C trace context, as Job.Trace and Campaign.Trace keep it.
func traceContext() map[string]string {
	return map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":  "vendor=opaque,other=1",
	}
}

func testEnqueueDedupes(t *testing.T, s webhook.Store) {
	res, err := s.Enqueue(t.Context(), webhook.EnqueueParams{Jobs: []*webhook.Job{job("j1", "k1", at(0)), job("j2", "k1", at(0)), job("j3", "k3", at(0))}})
	must(t, "Enqueue", err)
	if diff := cmp.Diff([]string{"j1", "j1", "j3"}, res.JobIDs, diffOpts...); diff != "" {
		t.Errorf("Enqueue of a second job with a key given earlier in the call must return the first job's ID for it (-want +got):\n%s", diff)
	}
	second := job("j4", "k1", at(time.Hour))
	second.UserID = "u2"
	res, err = s.Enqueue(t.Context(), webhook.EnqueueParams{Jobs: []*webhook.Job{job("j5", "k5", at(0)), second, job("j6", "k3", at(0))}})
	must(t, "Enqueue again", err)
	if diff := cmp.Diff([]string{"j5", "j1", "j3"}, res.JobIDs, diffOpts...); diff != "" {
		t.Errorf("Enqueue of jobs with keys the Store holds must return the IDs of the jobs it holds under them (-want +got):\n%s", diff)
	}
	checkJob(t, s, "a job whose key was enqueued again must not change", job("j1", "k1", at(0)))
	// A key stays taken after its job ended, whatever the end.
	claimed := claim(t, s, at(0), "w", 10)
	if diff := cmp.Diff([]string{"j1", "j3", "j5"}, ids(claimed)); diff != "" {
		t.Errorf("Claim after Enqueue of repeated keys must return the first job of each key only (-want +got):\n%s", diff)
	}
	for _, j := range claimed {
		j.State, j.Attempts = webhook.JobSucceeded, 1
		must(t, "Finish", finishOne(t, s, j, nil))
	}
	enqueueJobs(t, s, job("c1", "kc", at(time.Hour)))
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{"c1"}}, From: pending, To: webhook.JobCancelled, Now: at(0)})
	res, err = s.Enqueue(t.Context(), webhook.EnqueueParams{Jobs: []*webhook.Job{job("j7", "k1", at(0)), job("c2", "kc", at(0))}})
	must(t, "Enqueue after the jobs ended", err)
	if diff := cmp.Diff([]string{"j1", "c1"}, res.JobIDs, diffOpts...); diff != "" {
		t.Errorf("Enqueue of keys whose jobs succeeded or were cancelled must return those jobs' IDs (-want +got):\n%s", diff)
	}
	if got := jobs(t, s, byID("j2", "j4", "j6", "j7", "c2")); len(got) != 0 {
		t.Errorf("jobs with keys enqueued before must not be saved, but Jobs finds %v", ids(got))
	}
}

func testEnqueueConcurrent(t *testing.T, s webhook.Store) {
	// Several callers enqueue the same keys at once, as two Senders fanning out the same
	// page do, each with job IDs of its own.
	const callers, calls, batch = 8, 5, 10
	results := make([][]string, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for call := range calls {
				js := make([]*webhook.Job, batch)
				for i := range js {
					k := call*batch + i
					js[i] = job(fmt.Sprintf("c%d-%02d", c, k), fmt.Sprintf("k%02d", k), at(0))
				}
				res, err := s.Enqueue(t.Context(), webhook.EnqueueParams{Jobs: js})
				if err != nil {
					t.Errorf("Enqueue by caller %d: %v", c, err)
					return
				}
				results[c] = append(results[c], res.JobIDs...)
			}
		})
	}
	wg.Wait()
	saved := jobs(t, s, webhook.JobQuery{})
	if len(saved) != calls*batch {
		t.Errorf("%d callers enqueuing the same %d keys at once saved %d jobs, want one per key", callers, calls*batch, len(saved))
	}
	held := map[string]string{} // key → ID of the job saved under it
	for _, j := range saved {
		held[j.Key] = j.ID
	}
	for c, got := range results {
		for k, id := range got {
			if key := fmt.Sprintf("k%02d", k); id != held[key] {
				t.Errorf("Enqueue by caller %d returned job %s for key %s, but the Store holds job %q under it", c, id, key, held[key])
			}
		}
	}
}

func testEnqueueAtomic(t *testing.T, s webhook.Store) {
	// While one goroutine enqueues events with their jobs, another reads the user's jobs
	// and then their events: a job it sees was saved with its event, in the same change,
	// so the event must be there.
	const n = 200
	done := make(chan struct{})
	defer func() { <-done }() // a failed check ends the rule only once the writer is done
	go func() {
		defer close(done)
		for i := range n {
			e := event(fmt.Sprintf("e%03d", i), "u1", "buy", time.Duration(i)*time.Second)
			j := job(fmt.Sprintf("j%03d", i), fmt.Sprintf("k%03d", i), at(time.Hour))
			j.Event = &webhook.Event{ID: e.ID, UserID: e.UserID, Name: e.Name, Time: e.Time}
			if _, err := s.Enqueue(t.Context(), webhook.EnqueueParams{Events: []webhook.Event{e}, Jobs: []*webhook.Job{j}}); err != nil {
				t.Errorf("Enqueue: %v", err)
				return
			}
		}
	}()
	check := func() {
		js, err := s.Jobs(t.Context(), webhook.JobQuery{JobFilter: webhook.JobFilter{UserID: "u1"}})
		if err != nil {
			t.Fatalf("Jobs: %v", err)
		}
		es, err := s.Events(t.Context(), webhook.EventQuery{UserID: "u1"})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		for _, j := range js {
			if !slices.Contains(eventIDs(es), j.Event.ID) {
				t.Fatalf("Jobs returned job %s, enqueued with event %s, but Events then did not return the event: Enqueue must save events and jobs as one change (or the events first, where the Store cannot)",
					j.ID, j.Event.ID)
			}
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		check()
	}
	if js := jobs(t, s, webhook.JobQuery{}); len(js) != n {
		t.Errorf("after %d Enqueues of one job each, Jobs returns %d jobs", n, len(js))
	}
}

func testClaimOnlyDue(t *testing.T, s webhook.Store) {
	if res := claimFor(t, s, at(0), "w", time.Minute, 10); len(res.Jobs) != 0 || !res.NextDue.IsZero() {
		t.Errorf("Claim on an empty queue = %v, NextDue %v; want no jobs, and NextDue zero", ids(res.Jobs), res.NextDue)
	}
	enqueue(t, s, time.Millisecond, 0, time.Minute, -time.Hour)
	h := job("held", "kh", at(-2*time.Hour))
	h.State = webhook.JobHeld
	enqueueJobs(t, s, h)
	if got := ids(claim(t, s, at(0), "w", 10)); !slices.Equal(got, []string{"j3", "j1"}) {
		t.Errorf("Claim at epoch = %v, want [j3 j1]: the scheduled jobs due at or before then, not the held one", got)
	}
	if got := ids(claim(t, s, at(time.Millisecond-µs), "w", 10)); len(got) != 0 {
		t.Errorf("Claim 1µs before j0 is due = %v, want none", got)
	}
	if got := ids(claim(t, s, at(time.Millisecond), "w", 10)); !slices.Equal(got, []string{"j0"}) {
		t.Errorf("Claim when j0 is due = %v, want [j0]", got)
	}
}

func testClaimOrder(t *testing.T, s webhook.Store) {
	// IDs j0..j5; due times put j4 first, then j1 and j5 together (by ID), then j0, j2, j3.
	enqueue(t, s, 3*time.Second, time.Second, 4*time.Second, 4*time.Second, 0, time.Second)
	var got []string
	for range 4 {
		got = append(got, ids(claim(t, s, at(time.Minute), "w", 2))...)
	}
	want := []string{"j4", "j1", "j5", "j0", "j2", "j3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Claim in batches of 2 must return the earliest due first, ties by ID (-want +got):\n%s", diff)
	}
}

func testClaimLease(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	got := claimFor(t, s, at(time.Second), "owner-1", 90*time.Second, 1).Jobs
	if len(got) != 1 {
		t.Fatalf("Claim = %v, want [j0]", ids(got))
	}
	want := job("j0", "k0", at(0))
	want.State, want.LeaseOwner, want.LeaseExpiresAt = webhook.JobRunning, "owner-1", at(91*time.Second)
	if diff := cmp.Diff(want, got[0], diffOpts...); diff != "" {
		t.Errorf("Claim must return the job running, leased to the owner until now+lease (-want +got):\n%s", diff)
	}
	got[0].State, got[0].Attempts = webhook.JobSucceeded, 1 // as a Sender does before Finish
	checkJob(t, s, "after Claim", want)
}

func testClaimTime(t *testing.T, s webhook.Store) {
	// Far from the wall clock on both sides: a Store that reads the time gets these wrong.
	past := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	future := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	enqueueJobs(t, s, job("past", "kp", past), job("future", "kf", future))
	if got := ids(claim(t, s, past.Add(-time.Second), "w", 10)); len(got) != 0 {
		t.Errorf("Claim at 1989 = %v, want none: nothing is due before 1990", got)
	}
	claimed := claim(t, s, past, "w", 10)
	if got := ids(claimed); !slices.Equal(got, []string{"past"}) {
		t.Fatalf("Claim at 1990 = %v, want [past]", got)
	}
	if res := claimFor(t, s, past, "w2", time.Minute, 10); !res.NextDue.Equal(past.Add(time.Minute)) {
		t.Errorf("Claim at 1990 by another owner returned NextDue %v, want the 1990 lease's expiry %v", res.NextDue, past.Add(time.Minute))
	}
	claimed[0].State = webhook.JobSucceeded
	must(t, "Finish", finishOne(t, s, claimed[0], nil))
	if res := claimFor(t, s, past, "w2", time.Minute, 10); !res.NextDue.Equal(future) {
		t.Errorf("Claim at 1990 returned NextDue %v, want the 2200 job's DueAt %v", res.NextDue, future)
	}
	if got := ids(claim(t, s, future, "w", 10)); !slices.Equal(got, []string{"future"}) {
		t.Errorf("Claim at 2200 = %v, want [future]: it is due then", got)
	}
	if res := claimFor(t, s, future, "w2", time.Minute, 10); !res.NextDue.Equal(future.Add(time.Minute)) {
		t.Errorf("Claim at 2200 by another owner returned NextDue %v, want the 2200 lease's expiry %v", res.NextDue, future.Add(time.Minute))
	}
}

func testClaimConcurrent(t *testing.T, s webhook.Store) {
	const n, claimers, batch = 300, 8, 7
	dues := make([]time.Duration, n)
	for i := range dues {
		dues[i] = time.Duration(i%13) * time.Millisecond
	}
	enqueue(t, s, dues...)
	checkLeasedOnce(t, "Claim", "job", n, claimers, func(owner string) ([]string, error) {
		res, err := s.Claim(t.Context(), webhook.ClaimParams{Now: at(time.Second), Owner: owner, Lease: time.Hour, Limit: batch})
		return ids(res.Jobs), err
	})
}

// checkLeasedOnce has owners lease items at once, each calling lease until it returns none,
// and fails the rule unless all want items were leased, each once. Each owner calls lease
// at most want+1 times, so a Store that leases an item again fails the rule instead of
// leasing forever. what names lease in failures, item the things it leases.
func checkLeasedOnce(t *testing.T, what, item string, want, owners int, lease func(owner string) ([]string, error)) {
	t.Helper()
	var (
		mu  sync.Mutex
		got = map[string][]string{} // item ID → owners
		wg  sync.WaitGroup
	)
	for o := range owners {
		owner := fmt.Sprintf("w%d", o)
		wg.Go(func() {
			for range want + 1 {
				leased, err := lease(owner)
				if err != nil {
					t.Errorf("%s by %s: %v", what, owner, err)
					return
				}
				if len(leased) == 0 {
					return
				}
				mu.Lock()
				for _, id := range leased {
					got[id] = append(got[id], owner)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != want {
		t.Errorf("%s by %d owners at once leased %d distinct %ss, want all %d", what, owners, len(got), item, want)
	}
	var twice []string
	for id, leasedTo := range got {
		if len(leasedTo) > 1 {
			twice = append(twice, id)
		}
	}
	if len(twice) > 0 {
		slices.Sort(twice)
		id := twice[0]
		t.Errorf("%s by %d owners at once leased %d %ss more than once, such as %s %d times, first to %v",
			what, owners, len(twice), item, id, len(got[id]), got[id][:min(len(got[id]), 4)])
	}
}

func testLeaseExpiry(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	stale := claim(t, s, at(0), "a", 1)
	if len(stale) != 1 {
		t.Fatalf("Claim by a = %v, want [j0]", ids(stale))
	}
	if got := ids(claim(t, s, at(time.Minute-µs), "b", 1)); len(got) != 0 {
		t.Errorf("Claim by b 1µs before a's lease expires = %v, want none", got)
	}
	fresh := claim(t, s, at(time.Minute), "b", 1)
	if len(fresh) != 1 || fresh[0].LeaseOwner != "b" || !fresh[0].LeaseExpiresAt.Equal(at(2*time.Minute)) {
		t.Fatalf("Claim by b when a's lease expires = %+v, want j0 leased to b until epoch+2m", fresh)
	}
	a := stale[0]
	a.State, a.Attempts = webhook.JobSucceeded, 1
	if err := finishOne(t, s, a, attempt("j0", 1, at(30*time.Second))); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("Finish by the stale holder a = %v, want ErrLeaseLost", err)
	}
	checkJob(t, s, "after a stale Finish, the job is b's as Claim returned it", fresh[0])
	if as := attempts(t, s, webhook.AttemptQuery{JobID: "j0"}); len(as) != 1 {
		t.Errorf("Attempts after a stale Finish = %d attempts, want the stale holder's attempt recorded", len(as))
	}
	b := fresh[0]
	b.State, b.Attempts = webhook.JobSucceeded, 1
	must(t, "Finish by the holder b", finishOne(t, s, b, attempt("j0", 1, at(time.Minute))))
}

func testExpiredLeaseOrder(t *testing.T, s webhook.Store) {
	// j0 is due first but leased until 20s, so it is due again after j1 (10s) and j2 (15s),
	// and before j3 (30s).
	enqueue(t, s, 0, 10*time.Second, 15*time.Second, 30*time.Second)
	if got := ids(claimFor(t, s, at(0), "dead", 20*time.Second, 1).Jobs); !slices.Equal(got, []string{"j0"}) {
		t.Fatalf("Claim at epoch = %v, want [j0]", got)
	}
	for _, want := range [][]string{{"j1"}, {"j2", "j0"}, {"j3"}} {
		if got := ids(claim(t, s, at(time.Minute), "w", len(want))); !slices.Equal(got, want) {
			t.Errorf("Claim of %d = %v, want %v: a job whose lease expired is due from its LeaseExpiresAt (20s), the others from their DueAt (10s, 15s, 30s)",
				len(want), got, want)
		}
	}
}

func testClaimNextDue(t *testing.T, s webhook.Store) {
	check := func(when string, res webhook.ClaimResult, want time.Time) {
		t.Helper()
		if !res.NextDue.Equal(want) {
			t.Errorf("%s: Claim returned NextDue %v, want %v", when, res.NextDue, want)
		}
	}
	check("on an empty queue", claimFor(t, s, at(0), "w", time.Minute, 10), time.Time{})
	js := enqueue(t, s, 0, time.Hour, 30*time.Minute, 2*time.Hour)
	h, e := job("held", "kh", at(-time.Hour)), job("ended", "ke", at(-2*time.Hour))
	h.State = webhook.JobHeld
	enqueueJobs(t, s, h, e)
	res := claimFor(t, s, at(-2*time.Hour), "x", time.Minute, 1)
	check("with the Limit of 1 claimed", res, time.Time{})
	res.Jobs[0].State = webhook.JobSucceeded
	must(t, "Finish", finishOne(t, s, res.Jobs[0], nil))
	res = claimFor(t, s, at(0), "w", 3*time.Hour, 1)
	if got := ids(res.Jobs); !slices.Equal(got, []string{"j0"}) {
		t.Fatalf("Claim at epoch = %v, want [j0]", got)
	}
	check("with the Limit of 1 claimed and more jobs due later", res, time.Time{})
	check("with j0 leased to w for 3h, a held job and an ended one (neither ever due)",
		claimFor(t, s, at(0), "w2", time.Minute, 10), at(30*time.Minute))
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{js[1].ID, js[2].ID}}, From: pending, To: webhook.JobCancelled})
	check("after j1 and j2 were cancelled", claimFor(t, s, at(0), "w2", time.Minute, 10), at(2*time.Hour))
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{js[3].ID}}, From: pending, To: webhook.JobCancelled})
	check("with only j0 leased to w for 3h left", claimFor(t, s, at(0), "w2", time.Minute, 10), at(3*time.Hour))
	res.Jobs[0].State = webhook.JobSucceeded
	must(t, "Finish", finishOne(t, s, res.Jobs[0], nil))
	check("with only a held job left", claimFor(t, s, at(0), "w2", time.Minute, 10), time.Time{})
	future := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	enqueueJobs(t, s, job("future", "kf", future))
	check("with a job due in 2200", claimFor(t, s, at(0), "w2", time.Minute, 10), future)
	res = claimFor(t, s, future, "w3", time.Minute, 10)
	if got := ids(res.Jobs); !slices.Equal(got, []string{"future"}) {
		t.Fatalf("Claim at 2200 = %v, want [future]", got)
	}
	check("after claiming fewer than Limit, of jobs not claimed only a held one left (the leases just given are not jobs it did not claim)", res, time.Time{})
}

func testFinish(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	want := *j
	want.State, want.Attempts, want.DueAt, want.Request = webhook.JobFailed, 3, at(5*time.Minute), request("j0")
	want.LeaseOwner, want.LeaseExpiresAt = "", time.Time{}
	f := want
	// Only State, Attempts, DueAt and Request are saved; the lease is released.
	f.LeaseOwner, f.LeaseExpiresAt = "w", at(time.Hour)
	f.UserID, f.MessageVersion, f.Params, f.Key, f.Unless = "other", 9, webhook.Map{"x": "y"}, "other", "other"
	must(t, "Finish", finishOne(t, s, &f, nil))
	checkJob(t, s, "Finish must save the job's State, Attempts, DueAt and Request, nothing else, and release the lease", &want)
	if got := ids(claim(t, s, at(time.Hour), "w", 1)); len(got) != 0 {
		t.Errorf("Claim after Finish with a final state = %v, want none", got)
	}
	if as := attempts(t, s, webhook.AttemptQuery{}); len(as) != 0 {
		t.Errorf("Finish with a nil attempt recorded %d attempts, want 0", len(as))
	}
}

func testFinishUser(t *testing.T, s webhook.Store) {
	putUsers(t, s, webhook.User{ID: "u1", Email: "a@example.com", CreatedAt: at(-time.Hour), Attributes: webhook.Map{"plan": "free", "old": true, "keep": int64(1)}})
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts = webhook.JobSucceeded, 1
	a := attempt("j0", 1, at(time.Second))
	a.Outcome = webhook.Succeeded
	up := &webhook.UserUpdate{User: webhook.User{ID: "u1", Attributes: webhook.Map{"plan": "pro", "seats": int64(3)}}, Unset: []string{"old"}}
	fresh := &webhook.UserUpdate{User: webhook.User{ID: "u9", Attributes: webhook.Map{"plan": "team"}}}
	stale := attempt("gone", 1, at(2*time.Second))
	stale.UserID = "u9"
	errs := finish(t, s, webhook.Finished{Job: j, Attempt: a, User: up}, webhook.Finished{Job: &webhook.Job{ID: "gone", LeaseOwner: "w"}, Attempt: stale, User: fresh})
	if errs[0] != nil || !errors.Is(errs[1], webhook.ErrNotFound) {
		t.Errorf("Finish = %v, want [nil ErrNotFound]", errs)
	}
	want := []webhook.User{
		{ID: "u1", Email: "a@example.com", CreatedAt: at(-time.Hour), Attributes: webhook.Map{"plan": "pro", "seats": int64(3), "keep": int64(1)}},
		{ID: "u9", CreatedAt: at(2 * time.Second), Attributes: webhook.Map{"plan": "team"}},
	}
	got := []webhook.User{getUser(t, s, "u1"), getUser(t, s, "u9")}
	if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("Finish with a User must save it as PutUsers merges, with the attempt's Time as Now, for a job it holds or not (-want +got):\n%s", diff)
	}
	if got := attemptIDs(attempts(t, s, webhook.AttemptQuery{})); !cmp.Equal(got, []string{"gone#1", "j0#1"}) {
		t.Errorf("Attempts after Finish with users = %v, want [gone#1 j0#1]", got)
	}
}

func testFinishBatch(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0, 0, 0)
	c := job("cancelled", "kc", at(time.Hour))
	enqueueJobs(t, s, c)
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{"cancelled"}}, From: pending, To: webhook.JobCancelled, Now: at(0)})
	js := claim(t, s, at(0), "w", 10)
	if len(js) != 3 {
		t.Fatalf("Claim = %v, want [j0 j1 j2]", ids(js))
	}
	succeeded, lost, retry := *js[0], *js[1], *js[2]
	succeeded.State, succeeded.Attempts = webhook.JobSucceeded, 1
	lost.State, lost.LeaseOwner = webhook.JobSucceeded, "not-w"
	retry.State, retry.Attempts, retry.DueAt = webhook.JobScheduled, 1, at(time.Minute)
	unknown := job("unknown", "ku", at(0))
	unknown.State, unknown.LeaseOwner = webhook.JobSucceeded, "w"
	c.State, c.LeaseOwner = webhook.JobSucceeded, "w"
	items := []webhook.Finished{
		{Job: &succeeded, Attempt: attempt("j0", 1, at(time.Second))},
		{Job: &lost, Attempt: attempt("j1", 1, at(time.Second))},
		{Job: unknown, Attempt: attempt("unknown", 1, at(time.Second))},
		{Job: c, Attempt: attempt("cancelled", 1, at(time.Second))},
		{Job: &retry},
	}
	errs := finish(t, s, items...)
	for i, want := range []error{nil, webhook.ErrLeaseLost, webhook.ErrNotFound, webhook.ErrLeaseLost, nil} {
		if !errors.Is(errs[i], want) {
			t.Errorf("Finish item %d (job %s) = %v, want %v", i, items[i].Job.ID, errs[i], want)
		}
	}
	for _, id := range []string{"j0", "j1", "unknown", "cancelled"} {
		if as := attempts(t, s, webhook.AttemptQuery{JobID: id, Outcomes: []webhook.Outcome{webhook.Failed}}); len(as) != 1 {
			t.Errorf("Finish in a batch recorded %d attempts of job %s, want its attempt recorded whatever the item's error", len(as), id)
		}
	}
	checkState(t, s, "Finish saves the item whose job is leased to its owner", "j0", webhook.JobSucceeded)
	checkJob(t, s, "Finish saves the retry of the item with no attempt", func() *webhook.Job {
		w := retry
		w.LeaseOwner, w.LeaseExpiresAt = "", time.Time{}
		return &w
	}())
	checkJob(t, s, "Finish by another owner changes nothing", js[1])
	checkState(t, s, "Finish of a cancelled job changes nothing", "cancelled", webhook.JobCancelled)
	if got := jobs(t, s, byID("unknown")); len(got) != 0 {
		t.Errorf("Finish of a job the Store does not hold created it: %+v", got[0])
	}
}

func testFinishTwice(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts = webhook.JobSucceeded, 1
	must(t, "Finish", finishOne(t, s, j, nil))
	j.State = webhook.JobFailed
	if err := finishOne(t, s, j, nil); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("second Finish of one claim = %v, want ErrLeaseLost: the lease was released", err)
	}
	checkState(t, s, "after a refused Finish", "j0", webhook.JobSucceeded)
}

func testFinishExpired(t *testing.T, s webhook.Store) {
	// Finish takes no time: a job is leased to its owner until another claims it, however
	// long ago the lease expired (and the wall clock is years after it).
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts = webhook.JobSucceeded, 1
	if err := finishOne(t, s, j, nil); err != nil {
		t.Errorf("Finish by the owner after its lease expired, with no other claim = %v, want nil", err)
	}
	checkState(t, s, "after Finish by the owner of an expired lease", "j0", webhook.JobSucceeded)
}

func testRetryDue(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts, j.DueAt, j.Request = webhook.JobScheduled, 1, at(time.Minute+time.Millisecond), request("j0")
	must(t, "Finish", finishOne(t, s, j, attempt("j0", 1, at(0))))
	res := claimFor(t, s, at(time.Minute+time.Millisecond-µs), "w", time.Minute, 1)
	if len(res.Jobs) != 0 {
		t.Errorf("Claim 1µs before the retry is due = %v, want none", ids(res.Jobs))
	}
	if !res.NextDue.Equal(j.DueAt) {
		t.Errorf("Claim before the retry is due returned NextDue %v, want the retry's due time %v", res.NextDue, j.DueAt)
	}
	got := claim(t, s, at(time.Minute+time.Millisecond), "w2", 1)
	if len(got) != 1 {
		t.Fatalf("Claim when the retry is due = %v, want [j0]", ids(got))
	}
	want := *j
	want.State, want.LeaseOwner, want.LeaseExpiresAt = webhook.JobRunning, "w2", at(2*time.Minute+time.Millisecond)
	if diff := cmp.Diff(&want, got[0], diffOpts...); diff != "" {
		t.Errorf("a retried job must keep its attempts and request (-want +got):\n%s", diff)
	}
}

// awaitRetry enqueues job j0 and finishes its first attempt with a retry due at epoch+1m and
// a request that holds credentials, checks that the request is saved and returns the job.
func awaitRetry(t *testing.T, s webhook.Store) *webhook.Job {
	t.Helper()
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts, j.DueAt, j.Request = webhook.JobScheduled, 1, at(time.Minute), request("j0")
	must(t, "Finish", finishOne(t, s, j, attempt("j0", 1, at(0))))
	j.LeaseOwner, j.LeaseExpiresAt = "", time.Time{}
	checkJob(t, s, "a job waiting for its retry must keep its request", j)
	return j
}

// testFinishClearsRequest: the Sender drops a finished job's request, which holds
// credentials, by finishing it with none.
func testFinishClearsRequest(t *testing.T, s webhook.Store) {
	awaitRetry(t, s)
	j := claim(t, s, at(time.Minute), "w", 1)[0]
	j.State, j.Attempts, j.Request = webhook.JobSucceeded, 2, nil
	must(t, "Finish", finishOne(t, s, j, nil))
	j.LeaseOwner, j.LeaseExpiresAt = "", time.Time{}
	checkJob(t, s, "after a Finish with no Request, the saved one must be gone", j)
}

func testHoldJobs(t *testing.T, s webhook.Store) {
	js := []*webhook.Job{job("j1", "k1", at(0)), job("j2", "k2", at(time.Hour)), job("j3", "k3", at(2*time.Hour))}
	js[2].MessageID = "other"
	enqueueJobs(t, s, js...)
	got := updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{MessageID: "m1"}, From: scheduled, To: webhook.JobHeld})
	want := []*webhook.Job{js[0], js[1]}
	for _, j := range want {
		j.State = webhook.JobHeld
	}
	if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("UpdateJobs to held must return the jobs held, keeping their DueAt (-want +got):\n%s", diff)
	}
	checkJob(t, s, "a held job keeps its DueAt", js[0])
	if got := ids(claim(t, s, at(3*time.Hour), "w", 10)); !slices.Equal(got, []string{"j3"}) {
		t.Errorf("Claim with m1's jobs held = %v, want only j3: held jobs are not claimed", got)
	}
	if res := claimFor(t, s, at(3*time.Hour), "w2", time.Minute, 10); !res.NextDue.Equal(at(3*time.Hour + time.Minute)) {
		t.Errorf("Claim with m1's jobs held returned NextDue %v, want j3's lease expiry: held jobs are never due", res.NextDue)
	}
}

func testScheduleJobs(t *testing.T, s webhook.Store) {
	mk := func(id string, state webhook.JobState, due time.Duration) *webhook.Job {
		j := job(id, "k-"+id, at(due))
		j.State = state
		return j
	}
	enqueueJobs(t, s, mk("failed", webhook.JobScheduled, -time.Minute))
	f := claim(t, s, at(-time.Minute), "w", 1)[0]
	f.State, f.Attempts = webhook.JobFailed, 6
	must(t, "Finish", finishOne(t, s, f, nil))
	enqueueJobs(t, s, mk("h1", webhook.JobHeld, 0), mk("h2", webhook.JobHeld, 10*time.Minute), mk("s1", webhook.JobScheduled, time.Hour),
		mk("h3", webhook.JobHeld, time.Minute))
	for _, tt := range []struct {
		id     string
		from   []webhook.JobState
		dueAt  time.Time
		wantAt time.Time
	}{
		{"h1", held, time.Time{}, at(0)},
		{"h2", held, at(20 * time.Minute), at(20 * time.Minute)},
		{"s1", scheduled, at(2 * time.Hour), at(2 * time.Hour)},
		{"failed", []webhook.JobState{webhook.JobFailed}, at(30 * time.Minute), at(30 * time.Minute)},
		// From the state moved to as well (as Sender.RetryJob does): the job is moved, and
		// returned, once.
		{"h3", []webhook.JobState{webhook.JobScheduled, webhook.JobHeld}, at(30 * time.Minute), at(30 * time.Minute)},
	} {
		p := webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{tt.id}}, From: tt.from, To: webhook.JobScheduled, DueAt: tt.dueAt}
		got := updateJobs(t, s, p)
		if len(got) != 1 || got[0].State != webhook.JobScheduled || !got[0].DueAt.Equal(tt.wantAt) {
			t.Errorf("UpdateJobs of %s from %v to scheduled with DueAt %v = %+v, want it scheduled at %v", tt.id, tt.from, tt.dueAt, got, tt.wantAt)
		}
	}
	for _, tt := range []struct {
		now  time.Duration
		want []string
	}{
		{-time.Minute, nil},
		{0, []string{"h1"}},
		{20*time.Minute - µs, nil},
		{20 * time.Minute, []string{"h2"}},
		{30 * time.Minute, []string{"failed", "h3"}},
		{time.Hour, nil},
		{2 * time.Hour, []string{"s1"}},
	} {
		if got := ids(claimFor(t, s, at(tt.now), "w", 10*time.Hour, 10).Jobs); !slices.Equal(got, tt.want) {
			t.Errorf("Claim at epoch+%v = %v, want %v: a job moved to scheduled is due at its DueAt, or the new one if given", tt.now, got, tt.want)
		}
	}
	// A job that ended and is scheduled again is selected by its Unless event like any other.
	u := job("unless", "ku", at(3*time.Hour))
	u.Unless = "buy"
	enqueueJobs(t, s, u)
	u = claim(t, s, at(3*time.Hour), "w", 1)[0]
	u.State = webhook.JobFailed
	must(t, "Finish", finishOne(t, s, u, nil))
	byUnless := webhook.UpdateJobsParams{Filter: webhook.JobFilter{UserID: "u1", Unless: "buy"}, From: pending, To: webhook.JobCancelled, Now: at(3 * time.Hour)}
	if got := updateJobs(t, s, byUnless); len(got) != 0 {
		t.Errorf("UpdateJobs(%+v) with the job failed = %v, want none", byUnless.Filter, ids(got))
	}
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{"unless"}}, From: []webhook.JobState{webhook.JobFailed}, To: webhook.JobScheduled})
	if got := updateJobs(t, s, byUnless); !slices.Equal(ids(got), []string{"unless"}) {
		t.Errorf("UpdateJobs(%+v) after the failed job was scheduled again = %v, want [unless]", byUnless.Filter, ids(got))
	}
}

func testCancelJobs(t *testing.T, s webhook.Store) {
	retry := awaitRetry(t, s) // j0, with one attempt and a Request
	h := job("h", "kh", at(time.Hour))
	h.State, h.MessageID, h.MessageVersion, h.Variant = webhook.JobHeld, "m2", 5, "B"
	enqueueJobs(t, s, h)
	p := webhook.UpdateJobsParams{Filter: webhook.JobFilter{UserID: "u1"}, From: pending, To: webhook.JobCancelled, Now: at(30*time.Second + µs), Reason: "campaign cancelled"}
	got := updateJobs(t, s, p)
	wantRetry, wantH := *retry, *h
	wantRetry.State, wantRetry.Request, wantH.State = webhook.JobCancelled, nil, webhook.JobCancelled
	if diff := cmp.Diff([]*webhook.Job{&wantH, &wantRetry}, got, diffOpts...); diff != "" {
		t.Errorf("UpdateJobs to cancelled must return the jobs cancelled, in ID order, without their Request (-want +got):\n%s", diff)
	}
	checkJob(t, s, "a cancelled job has no Request", &wantRetry)
	checkJob(t, s, "after UpdateJobs to cancelled", &wantH)
	for _, tt := range []struct {
		job  *webhook.Job
		want []int // attempt numbers, newest first
	}{{retry, []int{2, 1}}, {h, []int{1}}} {
		as := attempts(t, s, webhook.AttemptQuery{JobID: tt.job.ID})
		var numbers []int
		for _, a := range as {
			numbers = append(numbers, a.Number)
		}
		if !slices.Equal(numbers, tt.want) {
			t.Errorf("Attempts of job %s with %d attempts after it was cancelled are numbers %v, want %v: a Cancelled attempt numbered one more",
				tt.job.ID, tt.job.Attempts, numbers, tt.want)
			continue
		}
		want := webhook.Attempt{
			JobID: tt.job.ID, MessageID: tt.job.MessageID, MessageVersion: tt.job.MessageVersion, UserID: tt.job.UserID,
			Variant: tt.job.Variant, Number: tt.want[0], Time: p.Now, Outcome: webhook.Cancelled, Err: p.Reason,
		}
		if diff := cmp.Diff(want, as[0], diffOpts...); diff != "" {
			t.Errorf("the attempt recorded when job %s was cancelled (-want +got):\n%s", tt.job.ID, diff)
		}
	}
	if got := updateJobs(t, s, p); len(got) != 0 {
		t.Errorf("UpdateJobs to cancelled again = %v, want none: they are cancelled already", ids(got))
	}
	if as := attempts(t, s, webhook.AttemptQuery{Outcomes: []webhook.Outcome{webhook.Cancelled}}); len(as) != 2 {
		t.Errorf("after a second UpdateJobs that moved nothing there are %d Cancelled attempts, want 2", len(as))
	}
}

// filterJobs enqueues the jobs the filter rules select from: a..f, e running, f held.
func filterJobs(t *testing.T, s webhook.Store) {
	t.Helper()
	mk := func(id, msg, user, unless string, created time.Duration) *webhook.Job {
		j := job(id, "k-"+id, at(time.Hour))
		j.MessageID, j.UserID, j.Unless, j.CreatedAt = msg, user, unless, at(created)
		return j
	}
	e := mk("e", "m1", "u1", "", 0)
	e.DueAt = at(0)
	f := mk("f", "m2", "u2", "buy", 0)
	f.State = webhook.JobHeld
	enqueueJobs(t, s, mk("d", "m1", "u1", "buy", 2*time.Second), mk("a", "m1", "u1", "", 0), mk("b", "m1", "u2", "", time.Second),
		mk("c", "m2", "u1", "buy", 0), e, f)
	if got := ids(claim(t, s, at(0), "w", 10)); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("Claim = %v, want [e]", got)
	}
}

func testUpdateJobsFilter(t *testing.T, s webhook.Store) {
	filterJobs(t, s)
	for _, tt := range []struct {
		f    webhook.JobFilter
		from []webhook.JobState
		to   webhook.JobState
		want []string
	}{
		{webhook.JobFilter{MessageID: "m1"}, pending, webhook.JobHeld, []string{"a", "b", "d"}},
		{webhook.JobFilter{UserID: "u1"}, pending, webhook.JobHeld, []string{"a", "c", "d"}},
		{webhook.JobFilter{MessageID: "m1", UserID: "u1"}, pending, webhook.JobHeld, []string{"a", "d"}},
		{webhook.JobFilter{UserID: "u1", Unless: "buy"}, pending, webhook.JobHeld, []string{"c", "d"}},
		{webhook.JobFilter{MessageID: "m2", Unless: "buy"}, pending, webhook.JobHeld, []string{"c", "f"}},
		{webhook.JobFilter{UserID: "u1", CreatedBefore: at(2 * time.Second)}, pending, webhook.JobHeld, []string{"a", "c"}},
		{webhook.JobFilter{IDs: []string{"e", "d", "nope", "d"}}, pending, webhook.JobHeld, []string{"d"}},
		{webhook.JobFilter{IDs: []string{"a", "b"}, MessageID: "m1", UserID: "u2"}, pending, webhook.JobHeld, []string{"b"}},
		{webhook.JobFilter{UserID: "u1"}, nil, webhook.JobScheduled, nil},
		{webhook.JobFilter{MessageID: "m1"}, held, webhook.JobScheduled, []string{"a", "b", "d"}},
		{webhook.JobFilter{UserID: "u2"}, scheduled, webhook.JobHeld, []string{"b"}},
	} {
		before := jobs(t, s, webhook.JobQuery{})
		p := webhook.UpdateJobsParams{Filter: tt.f, From: tt.from, To: tt.to}
		got := updateJobs(t, s, p)
		if diff := cmp.Diff(tt.want, ids(got), diffOpts...); diff != "" {
			t.Errorf("UpdateJobs(%+v from %v to %s) must move the jobs the filter selects whose state is one of From, once each, and return them in ID order (-want +got):\n%s",
				tt.f, tt.from, tt.to, diff)
		}
		for _, j := range got {
			if j.State != tt.to {
				t.Errorf("UpdateJobs(%+v from %v to %s) returned job %s in state %s", tt.f, tt.from, tt.to, j.ID, j.State)
			}
			checkJob(t, s, "a job UpdateJobs returns is as the Store holds it", j)
		}
		for _, j := range before {
			if !slices.Contains(tt.want, j.ID) {
				checkJob(t, s, fmt.Sprintf("UpdateJobs(%+v from %v to %s) must leave the jobs it does not move alone", tt.f, tt.from, tt.to), j)
			}
		}
	}
	checkState(t, s, "UpdateJobs must leave running jobs alone", "e", webhook.JobRunning)
}

func testUpdateJobsZeroCreatedAt(t *testing.T, s webhook.Store) {
	j := job("j0", "k0", at(0))
	j.CreatedAt = time.Time{}
	enqueueJobs(t, s, j)
	got := updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{UserID: "u1", CreatedBefore: at(0)}, From: pending, To: webhook.JobHeld})
	if !slices.Equal(ids(got), []string{"j0"}) {
		t.Errorf("UpdateJobs with CreatedBefore = %v, want [j0]: a zero CreatedAt is before every time", ids(got))
	}
	if got := jobs(t, s, webhook.JobQuery{JobFilter: webhook.JobFilter{CreatedBefore: at(0)}}); !slices.Equal(ids(got), []string{"j0"}) {
		t.Errorf("Jobs with CreatedBefore = %v, want [j0]: a zero CreatedAt is before every time", ids(got))
	}
}

func testUpdateJobsNoFilter(t *testing.T, s webhook.Store) {
	js := enqueue(t, s, 0)
	for _, f := range []webhook.JobFilter{{}, {Unless: "buy"}, {CreatedBefore: at(time.Hour)}, {Unless: "buy", CreatedBefore: at(time.Hour)}} {
		p := webhook.UpdateJobsParams{Filter: f, From: pending, To: webhook.JobCancelled, Now: at(0)}
		if got, err := s.UpdateJobs(t.Context(), p); !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("UpdateJobs with filter %+v, which names no job, message or user = %v, %v; want an error wrapping ErrInvalid", f, ids(got), err)
		}
	}
	checkJob(t, s, "after refused UpdateJobs", js[0])
	if as := attempts(t, s, webhook.AttemptQuery{}); len(as) != 0 {
		t.Errorf("refused UpdateJobs recorded %d attempts, want none", len(as))
	}
}

func testUpdateJobsRunning(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0, 0)
	running := claim(t, s, at(0), "w", 1)[0]
	for _, from := range [][]webhook.JobState{{webhook.JobRunning}, {webhook.JobScheduled, webhook.JobRunning}} {
		p := webhook.UpdateJobsParams{Filter: webhook.JobFilter{UserID: "u1"}, From: from, To: webhook.JobCancelled, Now: at(0)}
		if got, err := s.UpdateJobs(t.Context(), p); !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("UpdateJobs from %v = %v, %v; want an error wrapping ErrInvalid: running jobs are the claimer's", from, ids(got), err)
		}
	}
	p := webhook.UpdateJobsParams{Filter: webhook.JobFilter{UserID: "u1"}, From: []webhook.JobState{webhook.JobScheduled}, To: webhook.JobRunning}
	if got, err := s.UpdateJobs(t.Context(), p); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("UpdateJobs to running = %v, %v; want an error wrapping ErrInvalid: only Claim leases jobs", ids(got), err)
	}
	checkJob(t, s, "after refused UpdateJobs", running)
	checkState(t, s, "after refused UpdateJobs", "j1", webhook.JobScheduled)
}

func testJobsQuery(t *testing.T, s webhook.Store) {
	filterJobs(t, s)
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{"c"}}, From: pending, To: webhook.JobCancelled, Now: at(0)})
	for _, tt := range []struct {
		q    webhook.JobQuery
		want []string
	}{
		{webhook.JobQuery{}, []string{"a", "b", "c", "d", "e", "f"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{IDs: []string{"f", "a", "nope", "a"}}}, []string{"a", "f"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{IDs: []string{"nope"}}}, nil},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "m2"}}, []string{"c", "f"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{UserID: "u2"}}, []string{"b", "f"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{Unless: "buy"}}, []string{"c", "d", "f"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{UserID: "u1", Unless: "buy"}}, []string{"c", "d"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{CreatedBefore: at(time.Second)}}, []string{"a", "c", "e", "f"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "m1", UserID: "u1", CreatedBefore: at(time.Second)}}, []string{"a", "e"}},
		{webhook.JobQuery{States: []webhook.JobState{webhook.JobRunning}}, []string{"e"}},
		{webhook.JobQuery{States: pending}, []string{"a", "b", "d", "f"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{UserID: "u1", Unless: "buy"}, States: []webhook.JobState{webhook.JobCancelled}}, []string{"c"}},
		{webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "m2"}, States: []webhook.JobState{webhook.JobSucceeded}}, nil},
	} {
		got := jobs(t, s, tt.q)
		if diff := cmp.Diff(tt.want, ids(got), diffOpts...); diff != "" {
			t.Errorf("Jobs(%+v) must return each job the filter and States select once, in ID order (-want +got):\n%s", tt.q, diff)
		}
	}
}

func testJobsPaging(t *testing.T, s webhook.Store) {
	dues := make([]time.Duration, 10)
	js := enqueue(t, s, dues...) // j0..j9
	all := ids(js)
	other := job("j55", "k55", at(0))
	other.MessageID = "m2"
	enqueueJobs(t, s, other)
	m1 := webhook.JobFilter{MessageID: "m1"}
	for _, tt := range []struct {
		q    webhook.JobQuery
		want []string
	}{
		{webhook.JobQuery{JobFilter: m1}, all},
		{webhook.JobQuery{JobFilter: m1, Limit: 3}, all[:3]},
		{webhook.JobQuery{JobFilter: m1, After: "j2", Limit: 3}, all[3:6]},
		{webhook.JobQuery{JobFilter: m1, After: "j5", Limit: 3}, all[6:9]}, // j55 is not m1's
		{webhook.JobQuery{JobFilter: m1, After: "j8", Limit: 3}, all[9:]},
		{webhook.JobQuery{JobFilter: m1, After: "j9", Limit: 3}, nil},
		{webhook.JobQuery{JobFilter: m1, After: "j45"}, all[5:]},
		{webhook.JobQuery{After: "j5", Limit: 2}, []string{"j55", "j6"}},
	} {
		if diff := cmp.Diff(tt.want, ids(jobs(t, s, tt.q)), diffOpts...); diff != "" {
			t.Errorf("Jobs(%+v) must return up to Limit (0: all) of the jobs selected whose IDs sort after After, in ID order (-want +got):\n%s", tt.q, diff)
		}
	}
}
