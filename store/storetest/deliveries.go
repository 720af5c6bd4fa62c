package storetest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var deliveryRules = []rule{
	{"EnqueueSavesScheduledJobs", testEnqueueRoundTrip},
	{"EnqueueSkipsKnownKeys", testEnqueueDedupes},
	{"UnknownJobIsErrNotFound", testUnknownJob},
	{"ClaimReturnsOnlyDueJobs", testClaimOnlyDue},
	{"ClaimReturnsEarliestDueFirstThenByID", testClaimOrder},
	{"ClaimLeasesToTheOwnerUntilNowPlusLease", testClaimLease},
	{"ClaimUsesTheTimeItIsGiven", testClaimTime},
	{"ClaimNeverGivesAJobToTwoClaimers", testClaimConcurrent},
	{"ExpiredLeaseIsReclaimedAndStaleFinishRefused", testLeaseExpiry},
	{"ExpiredLeaseIsDueFromItsExpiry", testExpiredLeaseOrder},
	{"FinishSavesTheOutcomeAndReleases", testFinish},
	{"SecondFinishOfAClaimIsRefused", testFinishTwice},
	{"RetryIsDueExactlyAtItsDueTime", testRetryDue},
	{"FinishWithNoRequestClearsTheSavedOne", testFinishClearsRequest},
	{"CancelClearsTheSavedRequest", testCancelClearsRequest},
	{"NextDueIsTheEarliestDueOrLeaseExpiry", testNextDue},
	{"CancelCancelsScheduledJobsTheFilterSelects", testCancel},
	{"CancelWithoutMessageOrUserIsErrInvalid", testCancelInvalid},
	{"CancelByUnlessSelectsTheUsersJobsWithThatEvent", testCancelUnless},
	{"FinishOfACancelledJobRecordsTheAttemptAndIsErrLeaseLost", testFinishCancelled},
	{"FinishOfAnUnknownJobRecordsTheAttemptAndIsErrNotFound", testFinishUnknown},
	{"CancelCountsAZeroCreatedAtAsBeforeEveryTime", testCancelZeroCreatedAt},
}

// job returns a scheduled job of message m1 to user u1, due at due.
func job(id, key string, due time.Time) *webhook.Job {
	return &webhook.Job{
		ID: id, Key: key, MessageID: "m1", MessageVersion: 2, UserID: "u1",
		Params: webhook.Map{"n": int64(1), "list": []any{"x", 1.5}},
		State:  webhook.JobScheduled, CreatedAt: at(-time.Hour), DueAt: due,
	}
}

// enqueue saves jobs due at epoch plus each of dues, with IDs j0, j1, ... and keys k0, ...
func enqueue(t *testing.T, s webhook.Store, dues ...time.Duration) []*webhook.Job {
	t.Helper()
	jobs := make([]*webhook.Job, len(dues))
	for i, d := range dues {
		jobs[i] = job(fmt.Sprintf("j%d", i), fmt.Sprintf("k%d", i), at(d))
	}
	must(t, "Enqueue", s.Enqueue(t.Context(), jobs))
	return jobs
}

// claim claims up to limit jobs at now for owner with a one-minute lease and returns them.
func claim(t *testing.T, s webhook.Store, now time.Time, owner string, limit int) []*webhook.Job {
	t.Helper()
	jobs, err := s.Claim(t.Context(), now, owner, time.Minute, limit)
	must(t, "Claim", err)
	return jobs
}

// ids returns the IDs of jobs.
func ids(jobs []*webhook.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// checkJob fails the rule if the Store's job with want's ID is not want.
func checkJob(t *testing.T, s webhook.Store, when string, want *webhook.Job) {
	t.Helper()
	got, err := s.Job(t.Context(), want.ID)
	if err != nil {
		t.Errorf("%s: Job(%q) = %v", when, want.ID, err)
		return
	}
	if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("%s: Job(%q) (-want +got):\n%s", when, want.ID, diff)
	}
}

func testEnqueueRoundTrip(t *testing.T, s webhook.Store) {
	j := job("j1", "k1", at(0))
	j.Event = &webhook.Event{ID: "e1", UserID: "u1", Name: "purchase", Time: at(-time.Minute)}
	j.Unless = "refund"
	must(t, "Enqueue", s.Enqueue(t.Context(), []*webhook.Job{j}))
	checkJob(t, s, "after Enqueue", j)
}

func testEnqueueDedupes(t *testing.T, s webhook.Store) {
	first := job("j1", "k1", at(0))
	must(t, "Enqueue", s.Enqueue(t.Context(), []*webhook.Job{first, job("j2", "k1", at(0)), job("j3", "k3", at(0))}))
	must(t, "Enqueue again", s.Enqueue(t.Context(), []*webhook.Job{job("j4", "k1", at(0)), job("j5", "k3", at(0))}))
	// A key stays taken after its job is finished.
	claimed := claim(t, s, at(0), "w", 10)
	for _, j := range claimed {
		j.State, j.Attempts = webhook.JobSucceeded, 1
		must(t, "Finish", s.Finish(t.Context(), j, nil))
	}
	must(t, "Enqueue after Finish", s.Enqueue(t.Context(), []*webhook.Job{job("j6", "k1", at(0))}))
	for _, id := range []string{"j2", "j4", "j5", "j6"} {
		if _, err := s.Job(t.Context(), id); !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("job %s has a key enqueued before, so must be skipped: Job = %v, want ErrNotFound", id, err)
		}
	}
	if diff := cmp.Diff([]string{"j1", "j3"}, ids(claimed)); diff != "" {
		t.Errorf("Claim after Enqueue of duplicate keys must return the first job of each key only (-want +got):\n%s", diff)
	}
	if got, err := s.Job(t.Context(), "j1"); err != nil || got.State != webhook.JobSucceeded {
		t.Errorf("Job(j1) = %+v, %v; a skipped duplicate must not change the first job", got, err)
	}
}

func testUnknownJob(t *testing.T, s webhook.Store) {
	if j, err := s.Job(t.Context(), "nope"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Job(unknown) = %v, %v; want an error wrapping ErrNotFound", j, err)
	}
}

func testClaimOnlyDue(t *testing.T, s webhook.Store) {
	if jobs := claim(t, s, at(0), "w", 10); len(jobs) != 0 {
		t.Errorf("Claim on an empty queue = %v, want no jobs", ids(jobs))
	}
	enqueue(t, s, time.Millisecond, 0, time.Minute, -time.Hour)
	if got := ids(claim(t, s, at(0), "w", 10)); !slices.Equal(got, []string{"j3", "j1"}) {
		t.Errorf("Claim at epoch = %v, want [j3 j1]: the jobs due at or before then", got)
	}
	if got := ids(claim(t, s, at(time.Millisecond-1), "w", 10)); len(got) != 0 {
		t.Errorf("Claim 1ns before j0 is due = %v, want none", got)
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

func testExpiredLeaseOrder(t *testing.T, s webhook.Store) {
	// j0 is due first but leased until 20s, so it is due again after j1 (10s) and j2 (15s),
	// and before j3 (30s).
	enqueue(t, s, 0, 10*time.Second, 15*time.Second, 30*time.Second)
	leased, err := s.Claim(t.Context(), at(0), "dead", 20*time.Second, 1)
	must(t, "Claim", err)
	if got := ids(leased); !slices.Equal(got, []string{"j0"}) {
		t.Fatalf("Claim at epoch = %v, want [j0]", got)
	}
	for _, want := range [][]string{{"j1"}, {"j2", "j0"}, {"j3"}} {
		if got := ids(claim(t, s, at(time.Minute), "w", len(want))); !slices.Equal(got, want) {
			t.Errorf("Claim of %d = %v, want %v: a job whose lease expired is due from its LeaseExpiresAt (20s), the others from their DueAt (10s, 15s, 30s)",
				len(want), got, want)
		}
	}
}

func testClaimLease(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	jobs, err := s.Claim(t.Context(), at(time.Second), "owner-1", 90*time.Second, 1)
	must(t, "Claim", err)
	if len(jobs) != 1 {
		t.Fatalf("Claim = %v, want [j0]", ids(jobs))
	}
	want := job("j0", "k0", at(0))
	want.State, want.LeaseOwner, want.LeaseExpiresAt = webhook.JobRunning, "owner-1", at(91*time.Second)
	if diff := cmp.Diff(want, jobs[0], diffOpts...); diff != "" {
		t.Errorf("Claim must return the job running, leased to the owner until now+lease (-want +got):\n%s", diff)
	}
	checkJob(t, s, "after Claim", want)
}

func testClaimTime(t *testing.T, s webhook.Store) {
	// Far from the wall clock on both sides: a Store that reads the time gets these wrong.
	past := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	future := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	jobs := []*webhook.Job{job("past", "kp", past), job("future", "kf", future)}
	must(t, "Enqueue", s.Enqueue(t.Context(), jobs))
	if got := ids(claim(t, s, past.Add(-time.Second), "w", 10)); len(got) != 0 {
		t.Errorf("Claim at 1989 = %v, want none: nothing is due before 1990", got)
	}
	claimed := claim(t, s, past, "w", 10)
	if got := ids(claimed); !slices.Equal(got, []string{"past"}) {
		t.Fatalf("Claim at 1990 = %v, want [past]", got)
	}
	claimed[0].State = webhook.JobSucceeded
	must(t, "Finish", s.Finish(t.Context(), claimed[0], nil))
	if got := ids(claim(t, s, future, "w", 10)); !slices.Equal(got, []string{"future"}) {
		t.Errorf("Claim at 2200 = %v, want [future]: it is due then", got)
	}
	if next, ok, err := s.NextDue(t.Context()); err != nil || !ok || !next.Equal(future.Add(time.Minute)) {
		t.Errorf("NextDue = %v, %v, %v; want the 2200 lease's expiry %v", next, ok, err, future.Add(time.Minute))
	}
}

func testClaimConcurrent(t *testing.T, s webhook.Store) {
	const jobs, claimers, batch = 300, 8, 7
	dues := make([]time.Duration, jobs)
	for i := range dues {
		dues[i] = time.Duration(i%13) * time.Millisecond
	}
	enqueue(t, s, dues...)
	checkLeasedOnce(t, "Claim", "job", jobs, claimers, func(owner string) ([]string, error) {
		js, err := s.Claim(t.Context(), at(time.Second), owner, time.Hour, batch)
		return ids(js), err
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
	if got := ids(claim(t, s, at(time.Minute-time.Millisecond), "b", 1)); len(got) != 0 {
		t.Errorf("Claim by b before a's lease expires = %v, want none", got)
	}
	fresh := claim(t, s, at(time.Minute), "b", 1)
	if len(fresh) != 1 || fresh[0].LeaseOwner != "b" || !fresh[0].LeaseExpiresAt.Equal(at(2*time.Minute)) {
		t.Fatalf("Claim by b when a's lease expires = %+v, want j0 leased to b until epoch+2m", fresh)
	}
	a := stale[0]
	a.State, a.Attempts = webhook.JobSucceeded, 1
	err := s.Finish(t.Context(), a, attempt("j0", 1, at(30*time.Second)))
	if !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("Finish by the stale holder a = %v, want ErrLeaseLost", err)
	}
	checkJob(t, s, "after a stale Finish", fresh[0])
	if as, err := s.Attempts(t.Context(), webhook.AttemptFilter{DeliveryID: "j0"}); err != nil || len(as) != 1 {
		t.Errorf("Attempts after a stale Finish = %d attempts, %v; want the stale holder's attempt recorded", len(as), err)
	}
	b := fresh[0]
	b.State, b.Attempts = webhook.JobSucceeded, 1
	must(t, "Finish by the holder b", s.Finish(t.Context(), b, attempt("j0", 1, at(time.Minute))))
}

func testFinish(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts = webhook.JobFailed, 3
	j.Request = &webhook.Request{
		Method: "POST", URL: "https://example.com/hook?a=1",
		Header: http.Header{"Authorization": {"Basic eDp5"}, "X-Multi": {"1", "2"}, "Webhook-Id": {"j0"}},
		Body:   []byte("{\"a\":\x00\xff}"),
	}
	finishAndCheck(t, s, j, "after Finish")
	if got := ids(claim(t, s, at(time.Hour), "w", 1)); len(got) != 0 {
		t.Errorf("Claim after Finish with a final state = %v, want none", got)
	}
	if as, err := s.Attempts(t.Context(), webhook.AttemptFilter{}); err != nil || len(as) != 0 {
		t.Errorf("Finish with a nil attempt recorded %d attempts (%v), want 0", len(as), err)
	}
}

func testFinishTwice(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts = webhook.JobSucceeded, 1
	must(t, "Finish", s.Finish(t.Context(), j, nil))
	j.State = webhook.JobFailed
	if err := s.Finish(t.Context(), j, nil); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("second Finish of one claim = %v, want ErrLeaseLost: the lease was released", err)
	}
	if got, err := s.Job(t.Context(), "j0"); err != nil || got.State != webhook.JobSucceeded {
		t.Errorf("after a refused Finish, Job = %+v, %v; want it still succeeded", got, err)
	}
}

func testRetryDue(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts, j.DueAt = webhook.JobScheduled, 1, at(time.Minute+time.Millisecond)
	j.Request = &webhook.Request{Method: "POST", URL: "https://example.com/", Header: http.Header{"Webhook-Id": {"j0"}}, Body: []byte("{}")}
	must(t, "Finish", s.Finish(t.Context(), j, attempt("j0", 1, at(0))))
	if got := ids(claim(t, s, at(time.Minute), "w", 1)); len(got) != 0 {
		t.Errorf("Claim 1ms before the retry is due = %v, want none", got)
	}
	if next, ok, err := s.NextDue(t.Context()); err != nil || !ok || !next.Equal(j.DueAt) {
		t.Errorf("NextDue = %v, %v, %v; want the retry's due time %v", next, ok, err, j.DueAt)
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

// awaitRetry enqueues a job and finishes its first attempt with a retry due at epoch+1m and
// a request that holds credentials, checking that the request is saved.
func awaitRetry(t *testing.T, s webhook.Store) {
	t.Helper()
	enqueue(t, s, 0)
	j := claim(t, s, at(0), "w", 1)[0]
	j.State, j.Attempts, j.DueAt = webhook.JobScheduled, 1, at(time.Minute)
	j.Request = &webhook.Request{Method: "POST", URL: "https://example.com/", Header: http.Header{"Authorization": {"Basic eDp5"}}, Body: []byte("{}")}
	finishAndCheck(t, s, j, "a job waiting for its retry must keep its request")
}

// finishAndCheck finishes the claimed job j with no attempt and checks that the Store holds
// it as given, released.
func finishAndCheck(t *testing.T, s webhook.Store, j *webhook.Job, when string) {
	t.Helper()
	must(t, "Finish", s.Finish(t.Context(), j, nil))
	want := *j
	want.LeaseOwner, want.LeaseExpiresAt = "", time.Time{}
	checkJob(t, s, when, &want)
}

// testFinishClearsRequest: the Sender drops a finished delivery's request, which holds
// credentials, by finishing it with none.
func testFinishClearsRequest(t *testing.T, s webhook.Store) {
	awaitRetry(t, s)
	j := claim(t, s, at(time.Minute), "w", 1)[0]
	j.State, j.Attempts, j.Request = webhook.JobSucceeded, 2, nil
	finishAndCheck(t, s, j, "after a Finish with no Request, the saved one must be gone")
}

func testCancelClearsRequest(t *testing.T, s webhook.Store) {
	awaitRetry(t, s)
	got, err := s.Cancel(t.Context(), webhook.JobFilter{MessageID: "m1"})
	if err != nil || len(got) != 1 || got[0].State != webhook.JobCancelled || got[0].Request != nil {
		t.Fatalf("Cancel of a job waiting for its retry = %+v, %v; want it cancelled, with no Request", got, err)
	}
	checkJob(t, s, "after Cancel, the saved Request must be gone", got[0])
}

func testNextDue(t *testing.T, s webhook.Store) {
	if _, ok, err := s.NextDue(t.Context()); err != nil || ok {
		t.Errorf("NextDue on an empty queue = %v, %v; want false", ok, err)
	}
	enqueue(t, s, 0, time.Hour, 30*time.Minute, 2*time.Hour)
	check := func(when string, want time.Time) {
		t.Helper()
		next, ok, err := s.NextDue(t.Context())
		if err != nil || !ok || !next.Equal(want) {
			t.Errorf("%s: NextDue = %v, %v, %v; want %v", when, next, ok, err, want)
		}
	}
	check("with four scheduled jobs", at(0))
	j := claim(t, s, at(0), "w", 1)[0]
	check("with j0 leased until epoch+1m", at(time.Minute))
	j.State = webhook.JobSucceeded
	must(t, "Finish", s.Finish(t.Context(), j, nil))
	check("after j0 succeeded", at(30*time.Minute))
	_, err := s.Cancel(t.Context(), webhook.JobFilter{UserID: "u1", CreatedBefore: at(0)})
	must(t, "Cancel", err)
	if _, ok, err := s.NextDue(t.Context()); err != nil || ok {
		t.Errorf("NextDue after every job is finished or cancelled = %v, %v; want false", ok, err)
	}
}

func testCancel(t *testing.T, s webhook.Store) {
	mk := func(id, msg, user string, created time.Duration) *webhook.Job {
		j := job(id, "k-"+id, at(0))
		j.MessageID, j.UserID, j.CreatedAt = msg, user, at(created)
		return j
	}
	jobs := []*webhook.Job{
		mk("a", "m1", "u1", 0), mk("b", "m1", "u2", time.Second), mk("c", "m2", "u1", 0),
		mk("d", "m1", "u1", 2*time.Second), mk("e", "m1", "u1", 0),
	}
	must(t, "Enqueue", s.Enqueue(t.Context(), jobs))
	// e is running, so is left to finish; a is claimed first, being earliest by ID.
	running := claim(t, s, at(0), "w", 1)[0]
	if running.ID != "a" {
		t.Fatalf("Claim = %s, want a", running.ID)
	}
	for _, tt := range []struct {
		f    webhook.JobFilter
		want []string
	}{
		{webhook.JobFilter{MessageID: "m1", CreatedBefore: at(2 * time.Second)}, []string{"b", "e"}},
		{webhook.JobFilter{UserID: "u1", MessageID: "m2"}, []string{"c"}},
		{webhook.JobFilter{UserID: "u1"}, []string{"d"}},
		{webhook.JobFilter{UserID: "u1"}, nil},
	} {
		got, err := s.Cancel(t.Context(), tt.f)
		must(t, "Cancel", err)
		slices.SortFunc(got, func(a, b *webhook.Job) int { return strings.Compare(a.ID, b.ID) })
		if diff := cmp.Diff(tt.want, ids(got), diffOpts...); diff != "" {
			t.Errorf("Cancel(%+v) must cancel the scheduled jobs it selects (-want +got):\n%s", tt.f, diff)
		}
		for _, j := range got {
			if j.State != webhook.JobCancelled {
				t.Errorf("Cancel returned job %s in state %s, want cancelled", j.ID, j.State)
			}
			checkJob(t, s, "after Cancel", j)
		}
	}
	if got, err := s.Job(t.Context(), "a"); err != nil || got.State != webhook.JobRunning {
		t.Errorf("Cancel must leave running jobs alone: Job(a) = %+v, %v", got, err)
	}
	if got := ids(claim(t, s, at(time.Hour), "w", 10)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Claim after Cancel = %v, want only a (its lease expired); cancelled jobs are never due", got)
	}
}

func testCancelInvalid(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	if _, err := s.Cancel(t.Context(), webhook.JobFilter{CreatedBefore: at(time.Hour)}); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("Cancel without MessageID or UserID = %v, want an error wrapping ErrInvalid", err)
	}
	if got, err := s.Job(t.Context(), "j0"); err != nil || got.State != webhook.JobScheduled {
		t.Errorf("a refused Cancel changed job j0: %+v, %v", got, err)
	}
}

func testCancelUnless(t *testing.T, s webhook.Store) {
	mk := func(id, user, unless string, created time.Duration) *webhook.Job {
		j := job(id, "k-"+id, at(0))
		j.UserID, j.Unless, j.CreatedAt = user, unless, at(created)
		return j
	}
	must(t, "Enqueue", s.Enqueue(t.Context(), []*webhook.Job{
		mk("hit", "u1", "purchase", 0), mk("other-event", "u1", "visit", 0), mk("no-unless", "u1", "", 0),
		mk("other-user", "u2", "purchase", 0), mk("late", "u1", "purchase", time.Minute),
	}))
	running := mk("running", "u1", "purchase", 0)
	running.DueAt = at(-time.Second)
	must(t, "Enqueue", s.Enqueue(t.Context(), []*webhook.Job{running}))
	claimed := claim(t, s, at(-time.Second), "w", 10)
	if len(claimed) != 1 || claimed[0].ID != "running" {
		t.Fatalf("Claim = %v, want [running]", ids(claimed))
	}
	f := webhook.JobFilter{UserID: "u1", Unless: "purchase", CreatedBefore: at(time.Second)}
	got, err := s.Cancel(t.Context(), f)
	must(t, "Cancel", err)
	if len(got) != 1 || got[0].ID != "hit" || got[0].State != webhook.JobCancelled {
		t.Fatalf("Cancel(%+v) = %v; want only job hit, cancelled: the user's scheduled jobs with that Unless, created before", f, ids(got))
	}
	for id, want := range map[string]webhook.JobState{
		"hit": webhook.JobCancelled, "other-event": webhook.JobScheduled, "no-unless": webhook.JobScheduled,
		"other-user": webhook.JobScheduled, "late": webhook.JobScheduled, "running": webhook.JobRunning,
	} {
		if j, err := s.Job(t.Context(), id); err != nil || j.State != want {
			t.Errorf("after Cancel(%+v), job %s: %+v, %v; want state %s", f, id, j, err, want)
		}
	}
	if got, err := s.Cancel(t.Context(), f); err != nil || len(got) != 0 {
		t.Errorf("a second Cancel(%+v) = %v, %v; want nothing: the job is cancelled already", f, ids(got), err)
	}
	// The running job fails and is scheduled for a retry: now it is cancelled.
	r := claimed[0]
	r.State, r.Attempts, r.DueAt = webhook.JobScheduled, 1, at(time.Minute)
	must(t, "Finish", s.Finish(t.Context(), r, nil))
	if got, err := s.Cancel(t.Context(), f); err != nil || len(got) != 1 || got[0].ID != "running" {
		t.Errorf("Cancel(%+v) after the running job was scheduled for a retry = %v, %v; want [running]", f, ids(got), err)
	}
	if _, err := s.Cancel(t.Context(), webhook.JobFilter{Unless: "purchase"}); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("Cancel with only Unless = %v, want an error wrapping ErrInvalid", err)
	}
}

func testFinishCancelled(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	got, err := s.Cancel(t.Context(), webhook.JobFilter{UserID: "u1"})
	must(t, "Cancel", err)
	if len(got) != 1 {
		t.Fatalf("Cancel = %v, want [j0]", ids(got))
	}
	a := attempt("j0", 1, at(0))
	a.Outcome = webhook.Cancelled
	if err := s.Finish(t.Context(), got[0], a); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("Finish of a cancelled job = %v, want ErrLeaseLost: it is not leased", err)
	}
	if as, err := s.Attempts(t.Context(), webhook.AttemptFilter{DeliveryID: "j0"}); err != nil || len(as) != 1 || as[0].Outcome != webhook.Cancelled {
		t.Errorf("Attempts after Finish of a cancelled job = %+v, %v; want its Cancelled attempt recorded", as, err)
	}
	checkJob(t, s, "after Finish of a cancelled job, it stays cancelled", got[0])
}

func testFinishUnknown(t *testing.T, s webhook.Store) {
	j := job("gone", "k-gone", at(0))
	j.State, j.Attempts, j.LeaseOwner = webhook.JobSucceeded, 1, "w"
	a := attempt("gone", 1, at(0))
	a.Outcome = webhook.Succeeded
	if err := s.Finish(t.Context(), j, a); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Finish of a job the Store does not hold = %v, want ErrNotFound", err)
	}
	if as, err := s.Attempts(t.Context(), webhook.AttemptFilter{DeliveryID: "gone"}); err != nil || len(as) != 1 {
		t.Errorf("Attempts after Finish of an unknown job = %+v, %v; want its attempt recorded", as, err)
	}
	if got, err := s.Job(t.Context(), "gone"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Finish of an unknown job created it: Job = %+v, %v", got, err)
	}
}

func testCancelZeroCreatedAt(t *testing.T, s webhook.Store) {
	j := job("j0", "k0", at(0))
	j.CreatedAt = time.Time{}
	must(t, "Enqueue", s.Enqueue(t.Context(), []*webhook.Job{j}))
	got, err := s.Cancel(t.Context(), webhook.JobFilter{UserID: "u1", CreatedBefore: at(0)})
	must(t, "Cancel", err)
	if !slices.Equal(ids(got), []string{"j0"}) {
		t.Errorf("Cancel(CreatedBefore) = %v, want [j0]: a zero CreatedAt is before every time", ids(got))
	}
}
