package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

// Rules of the optional role webhook.Inspector.
var inspectorRules = []rule{
	{"FindJobsFiltersNewestFirst", testFindJobsFilter},
	{"FindJobsPagesWithoutRepeatsOrGapsWhileJobsAreEnqueued", testFindJobsPaging},
	{"FindAttemptsFiltersNewestFirst", testFindAttemptsFilter},
	{"FindAttemptsPagesBySeqWithoutRepeatsOrGaps", testFindAttemptsPaging},
	{"CountJobsCountsEachMessagesJobsByStateAsTheyChange", testCountJobs},
	{"CountHostsCountsAttemptsAndSuccessesSinceATime", testCountHosts},
	{"ReplayJobsMovesEndedJobsBackKeepingTheirAttempts", testReplayJobs},
	{"ReplayJobsRefusesAnEmptyFilterAndStatesNotEnded", testReplayRefuses},
	{"ReplayJobsAtOnceMoveEachJobOnce", testReplayConcurrent},
	{"CountJobsMatchesARecountAfterEveryKindOfMove", testCountsMatchRecount},
	{"CountJobsMatchesARecountAfterMovesMadeAtOnce", testCountsMatchRecountAtOnce},
	{"FindJobsAndReplayDryRunsAgreeWithJobsQueryMatch", testFindJobsMatchesJobs},
	{"FindAttemptsAgreesWithAttemptLogQueryMatch", testFindAttemptsMatchesLog},
}

// inspector returns s as an Inspector, or skips the rule.
func inspector(t *testing.T, s webhook.Store) webhook.Inspector {
	t.Helper()
	in, ok := s.(webhook.Inspector)
	if !ok {
		t.Skip("the Store does not implement webhook.Inspector, an optional role")
	}
	return in
}

// findJobs calls FindJobs, failing the rule if it returns an error.
func findJobs(t *testing.T, in webhook.Inspector, p webhook.FindJobsParams) []*webhook.Job {
	t.Helper()
	js, err := in.FindJobs(t.Context(), p)
	must(t, "FindJobs", err)
	return js
}

// findAttempts calls FindAttempts, failing the rule if it returns an error.
func findAttempts(t *testing.T, in webhook.Inspector, p webhook.FindAttemptsParams) []webhook.Attempt {
	t.Helper()
	as, err := in.FindAttempts(t.Context(), p)
	must(t, "FindAttempts", err)
	return as
}

// endJobs claims the jobs with these IDs, which must be due at epoch, and finishes them in
// state st.
func endJobs(t *testing.T, s webhook.Store, st webhook.JobState, ids ...string) {
	t.Helper()
	claimed := claimFor(t, s, at(0), "end", time.Hour, 1000).Jobs
	var items []webhook.Finished
	for _, j := range claimed {
		j.State = webhook.JobScheduled // put back
		if slices.Contains(ids, j.ID) {
			j.State = st
		}
		items = append(items, webhook.Finished{Job: j})
	}
	for i, err := range finish(t, s, items...) {
		must(t, "Finish of "+items[i].Job.ID, err)
	}
}

// mixedJobs enqueues jobs of two messages and two users, created and due at different
// times, and ends some: j1 (m1, u1) succeeded, j2 (m1, u2) failed, j3 (m2, u1) scheduled
// due in an hour, j4 (m1, u1) held, j5 (m2, u2) skipped, j6 (m1, u1) cancelled. Jobs are
// created a minute apart, j1 first; j6 and j7 (m2, u1, scheduled due at epoch) share a
// CreatedAt.
func mixedJobs(t *testing.T, s webhook.Store) {
	t.Helper()
	mk := func(id, msg, user string, created, due time.Duration) *webhook.Job {
		j := job(id, "k-"+id, at(due))
		j.MessageID, j.UserID, j.CreatedAt = msg, user, at(created)
		return j
	}
	j3, j4 := mk("j3", "m2", "u1", -4*time.Minute, time.Hour), mk("j4", "m1", "u1", -3*time.Minute, 0)
	j4.State = webhook.JobHeld
	enqueueJobs(t, s, mk("j1", "m1", "u1", -6*time.Minute, 0), mk("j2", "m1", "u2", -5*time.Minute, 0), j3, j4,
		mk("j5", "m2", "u2", -2*time.Minute, 0), mk("j6", "m1", "u1", -time.Minute, 0))
	endJobs(t, s, webhook.JobSucceeded, "j1")
	endJobs(t, s, webhook.JobFailed, "j2")
	endJobs(t, s, webhook.JobSkipped, "j5")
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{IDs: []string{"j6"}}, From: scheduled, To: webhook.JobCancelled, Now: at(0)})
	enqueueJobs(t, s, mk("j7", "m2", "u1", -time.Minute, 0))
}

func testFindJobsFilter(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	mixedJobs(t, s)
	ended := []webhook.JobState{webhook.JobFailed, webhook.JobSkipped, webhook.JobCancelled}
	for _, tt := range []struct {
		q    webhook.JobsQuery
		want []string
	}{
		{webhook.JobsQuery{}, []string{"j7", "j6", "j5", "j4", "j3", "j2", "j1"}},
		{webhook.JobsQuery{MessageID: "m1"}, []string{"j6", "j4", "j2", "j1"}},
		{webhook.JobsQuery{UserID: "u2"}, []string{"j5", "j2"}},
		{webhook.JobsQuery{MessageID: "m2", UserID: "u1"}, []string{"j7", "j3"}},
		{webhook.JobsQuery{States: []webhook.JobState{webhook.JobFailed}}, []string{"j2"}},
		{webhook.JobsQuery{States: ended}, []string{"j6", "j5", "j2"}},
		{webhook.JobsQuery{MessageID: "m1", States: ended}, []string{"j6", "j2"}},
		{webhook.JobsQuery{States: []webhook.JobState{webhook.JobScheduled, webhook.JobHeld}}, []string{"j7", "j4", "j3"}},
		{webhook.JobsQuery{States: []webhook.JobState{webhook.JobRunning}}, nil},
		{webhook.JobsQuery{CreatedSince: at(-5 * time.Minute)}, []string{"j7", "j6", "j5", "j4", "j3", "j2"}},
		{webhook.JobsQuery{CreatedBefore: at(-5 * time.Minute)}, []string{"j1"}},
		{webhook.JobsQuery{CreatedSince: at(-5*time.Minute + µs), CreatedBefore: at(-time.Minute)}, []string{"j5", "j4", "j3"}},
		{webhook.JobsQuery{DueSince: at(time.Hour)}, []string{"j3"}},
		{webhook.JobsQuery{DueBefore: at(time.Hour), States: []webhook.JobState{webhook.JobScheduled}}, []string{"j7"}},
		{webhook.JobsQuery{MessageID: "nope"}, nil},
	} {
		got := ids(findJobs(t, in, webhook.FindJobsParams{Query: tt.q}))
		if diff := cmp.Diff(tt.want, got, diffOpts...); diff != "" {
			t.Errorf("FindJobs(%+v) must select by every field, newest first, then greatest ID first (-want +got):\n%s", tt.q, diff)
		}
	}
	if got := ids(findJobs(t, in, webhook.FindJobsParams{Limit: 2, Query: webhook.JobsQuery{Limit: 1, Cursor: "ignored"}})); !cmp.Equal(got, []string{"j7", "j6"}) {
		t.Errorf("FindJobs with Limit 2 = %v, want [j7 j6]: the params' Limit, not the query's", got)
	}
	got := findJobs(t, in, webhook.FindJobsParams{Query: webhook.JobsQuery{UserID: "u2", States: []webhook.JobState{webhook.JobFailed}}})
	want := job("j2", "k-j2", at(0))
	want.UserID, want.CreatedAt, want.State = "u2", at(-5*time.Minute), webhook.JobFailed
	if len(got) != 1 || got[0].ID != "j2" || got[0].State != want.State || !got[0].CreatedAt.Equal(want.CreatedAt) ||
		!cmp.Equal(got[0].Params, want.Params) || got[0].LeaseOwner != "" {
		t.Errorf("FindJobs of j2 = %+v, want the whole job, as Jobs returns it", got)
	}
}

func testFindJobsPaging(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	// 23 jobs, three to a CreatedAt, so that pages end inside a run of equal times.
	var all []string
	var batch []*webhook.Job
	for i := range 23 {
		j := job(fmt.Sprintf("p%02d", i), fmt.Sprintf("kp%02d", i), at(0))
		j.CreatedAt = at(time.Duration(i/3) * time.Second)
		batch = append(batch, j)
		all = append(all, j.ID)
	}
	enqueueJobs(t, s, batch...)
	slices.Reverse(all) // newest first: greatest CreatedAt, then greatest ID
	var got []string
	p := webhook.FindJobsParams{Limit: 4}
	for page := 0; ; page++ {
		js := findJobs(t, in, p)
		got = append(got, ids(js)...)
		if len(js) < p.Limit {
			break
		}
		if page > 10 {
			t.Fatalf("FindJobs pages do not end: %v", got)
		}
		last := js[len(js)-1]
		p.AfterCreatedAt, p.AfterID = last.CreatedAt, last.ID
		// Jobs enqueued meanwhile, newer than every page, must not show up in later pages.
		newer := job(fmt.Sprintf("q%02d", page), fmt.Sprintf("kq%02d", page), at(0))
		newer.CreatedAt = at(time.Hour)
		enqueueJobs(t, s, newer)
	}
	if diff := cmp.Diff(all, got); diff != "" {
		t.Errorf("FindJobs pages of 4, each after the last job of the one before, must return every job once, in order (-want +got):\n%s", diff)
	}
}

// logAttempts records attempts of jobs j1..j4 with hosts, statuses, variants and outcomes:
// j1#1 retrying 503 at 0 (a.example), j2#1 succeeded 200 at 1s (b.example, variant A, user
// u2), j3#1 failed with no response at 2s (a.example, message m2), j1#2 succeeded 204 at 3s
// (a.example), j4#1 skipped at 3s (no host), recorded last.
func logAttempts(t *testing.T, s webhook.Store) {
	t.Helper()
	mk := func(id string, n int, d time.Duration, o webhook.Outcome, status int, host string) *webhook.Attempt {
		a := attempt(id, n, at(d))
		a.Outcome, a.StatusCode, a.Host = o, status, host
		return a
	}
	j2, j3 := mk("j2", 1, time.Second, webhook.Succeeded, 200, "b.example"), mk("j3", 1, 2*time.Second, webhook.Failed, 0, "a.example")
	j2.Variant, j2.UserID, j3.MessageID = "A", "u2", "m2"
	record(t, s, mk("j1", 1, 0, webhook.Retrying, 503, "a.example"), j2, j3,
		mk("j1", 2, 3*time.Second, webhook.Succeeded, 204, "a.example"), mk("j4", 1, 3*time.Second, webhook.Skipped, 0, ""))
}

func testFindAttemptsFilter(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	logAttempts(t, s)
	for _, tt := range []struct {
		q    webhook.AttemptLogQuery
		want []string
	}{
		{webhook.AttemptLogQuery{}, []string{"j4#1", "j1#2", "j3#1", "j2#1", "j1#1"}},
		{webhook.AttemptLogQuery{JobID: "j1"}, []string{"j1#2", "j1#1"}},
		{webhook.AttemptLogQuery{MessageID: "m2"}, []string{"j3#1"}},
		{webhook.AttemptLogQuery{UserID: "u2"}, []string{"j2#1"}},
		{webhook.AttemptLogQuery{Variant: "A"}, []string{"j2#1"}},
		{webhook.AttemptLogQuery{Outcomes: []webhook.Outcome{webhook.Succeeded}}, []string{"j1#2", "j2#1"}},
		{webhook.AttemptLogQuery{Outcomes: []webhook.Outcome{webhook.Failed, webhook.Skipped}}, []string{"j4#1", "j3#1"}},
		{webhook.AttemptLogQuery{StatusClass: 2}, []string{"j1#2", "j2#1"}},
		{webhook.AttemptLogQuery{StatusClass: 5}, []string{"j1#1"}},
		{webhook.AttemptLogQuery{StatusClass: 4}, nil},
		{webhook.AttemptLogQuery{StatusClass: -1}, []string{"j4#1", "j3#1"}},
		{webhook.AttemptLogQuery{Since: at(time.Second), Until: at(3 * time.Second)}, []string{"j3#1", "j2#1"}},
		{webhook.AttemptLogQuery{Since: at(time.Second + µs)}, []string{"j4#1", "j1#2", "j3#1"}},
		{webhook.AttemptLogQuery{JobID: "j1", StatusClass: 2, Until: at(3*time.Second + µs)}, []string{"j1#2"}},
	} {
		got := attemptIDs(findAttempts(t, in, webhook.FindAttemptsParams{Query: tt.q}))
		if diff := cmp.Diff(tt.want, got, diffOpts...); diff != "" {
			t.Errorf("FindAttempts(%+v) must select by every field, newest first, the one recorded last first (-want +got):\n%s", tt.q, diff)
		}
	}
	as := findAttempts(t, in, webhook.FindAttemptsParams{Query: webhook.AttemptLogQuery{JobID: "j1"}})
	if len(as) != 2 || as[0].Seq <= as[1].Seq || as[1].Seq <= 0 || as[0].Host != "a.example" || as[0].StatusCode != 204 {
		t.Errorf("FindAttempts(JobID: j1) = %+v, want the whole attempts, with Seq set, greater for the one recorded later", as)
	}
}

func testFindAttemptsPaging(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	var as []*webhook.Attempt
	for i := range 17 {
		as = append(as, attempt(fmt.Sprintf("a%02d", i%5), i/5+1, at(time.Duration(i/4)*time.Second)))
	}
	record(t, s, as...)
	want := attemptIDs(findAttempts(t, in, webhook.FindAttemptsParams{}))
	if len(want) != 17 {
		t.Fatalf("FindAttempts of 17 attempts returned %d", len(want))
	}
	var got []string
	p := webhook.FindAttemptsParams{Limit: 5}
	for page := 0; ; page++ {
		rows := findAttempts(t, in, p)
		got = append(got, attemptIDs(rows)...)
		if len(rows) < p.Limit {
			break
		}
		if page > 10 {
			t.Fatalf("FindAttempts pages do not end: %v", got)
		}
		last := rows[len(rows)-1]
		p.AfterTime, p.AfterSeq = last.Time, last.Seq
		a := attempt("late", len(got), at(time.Hour)) // newer than every page
		a.JobID = fmt.Sprintf("late%d", len(got))
		record(t, s, a)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindAttempts pages of 5, each after the last attempt of the one before, must return every attempt once, in order (-want +got):\n%s", diff)
	}
}

// countsOf returns the counts of CountJobs as "message state=n ..." strings, states with no
// jobs left out.
func countsOf(t *testing.T, in webhook.Inspector, ids ...string) []string {
	t.Helper()
	cs, err := in.CountJobs(t.Context(), webhook.CountJobsParams{MessageIDs: ids})
	must(t, "CountJobs", err)
	var out []string
	for _, c := range cs {
		line := c.MessageID
		for _, st := range webhook.JobStates() {
			if n := c.States[st]; n != 0 {
				line += fmt.Sprintf(" %s=%d", st, n)
			}
		}
		out = append(out, line)
	}
	return out
}

func testCountJobs(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	if got := countsOf(t, in); len(got) != 0 {
		t.Errorf("CountJobs of an empty Store = %v, want none", got)
	}
	mixedJobs(t, s)
	check := func(when string, want []string, ids ...string) {
		t.Helper()
		if diff := cmp.Diff(want, countsOf(t, in, ids...), diffOpts...); diff != "" {
			t.Errorf("CountJobs(%v) %s (-want +got):\n%s", ids, when, diff)
		}
	}
	check("after jobs were enqueued, claimed, finished and cancelled", []string{
		"m1 held=1 succeeded=1 failed=1 cancelled=1", "m2 scheduled=2 skipped=1"})
	check("of one message", []string{"m2 scheduled=2 skipped=1"}, "m2")
	check("of a message without jobs", nil, "m3")
	claimed := claim(t, s, at(0), "w", 10)
	check("after Claim", []string{"m1 held=1 succeeded=1 failed=1 cancelled=1", "m2 scheduled=1 running=1 skipped=1"}, "m2", "m1")
	claimed[0].State = webhook.JobFailed
	finish(t, s, webhook.Finished{Job: claimed[0]})
	updateJobs(t, s, webhook.UpdateJobsParams{Filter: webhook.JobFilter{MessageID: "m1"}, From: held, To: webhook.JobScheduled})
	check("after Finish and UpdateJobs", []string{"m1 scheduled=1 succeeded=1 failed=1 cancelled=1", "m2 scheduled=1 failed=1 skipped=1"})
	_, err := in.ReplayJobs(t.Context(), webhook.ReplayJobsParams{Query: webhook.JobsQuery{MessageID: "m2", States: []webhook.JobState{webhook.JobFailed}}, Now: at(0)})
	must(t, "ReplayJobs", err)
	check("after ReplayJobs", []string{"m1 scheduled=1 succeeded=1 failed=1 cancelled=1", "m2 scheduled=2 skipped=1"})
}

func testCountHosts(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	logAttempts(t, s)
	for _, tt := range []struct {
		since time.Time
		want  []webhook.HostStats
	}{
		{at(-time.Hour), []webhook.HostStats{
			{Host: "a.example", Attempts: 3, Succeeded: 1, LastAttempt: at(3 * time.Second)},
			{Host: "b.example", Attempts: 1, Succeeded: 1, LastAttempt: at(time.Second)},
		}},
		{at(time.Second + µs), []webhook.HostStats{{Host: "a.example", Attempts: 2, Succeeded: 1, LastAttempt: at(3 * time.Second)}}},
		{at(time.Hour), nil},
	} {
		got, err := in.CountHosts(t.Context(), webhook.CountHostsParams{Since: tt.since})
		must(t, "CountHosts", err)
		if diff := cmp.Diff(tt.want, got, diffOpts...); diff != "" {
			t.Errorf("CountHosts(since %v) must count the attempts at or after it by Host, leaving out those without one (-want +got):\n%s", tt.since, diff)
		}
	}
}

func testReplayJobs(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	mixedJobs(t, s)
	ended := []webhook.JobState{webhook.JobFailed, webhook.JobSkipped, webhook.JobCancelled}
	replay := func(p webhook.ReplayJobsParams) int {
		t.Helper()
		n, err := in.ReplayJobs(t.Context(), p)
		must(t, "ReplayJobs", err)
		return n
	}
	q := webhook.JobsQuery{MessageID: "m1", States: ended}
	if n := replay(webhook.ReplayJobsParams{Query: q, Now: at(time.Minute), DryRun: true}); n != 2 {
		t.Errorf("ReplayJobs dry run of m1's failed, skipped and cancelled jobs = %d, want 2 (j2, j6)", n)
	}
	checkState(t, s, "after a dry run", "j2", webhook.JobFailed)
	if n := replay(webhook.ReplayJobsParams{Query: q, IDs: slices.Repeat([]string{"j2"}, 1100), Now: at(time.Minute), DryRun: true}); n != 1 {
		t.Errorf("ReplayJobs dry run of IDs naming j2 1100 times = %d, want 1: each job is counted once, as it is replayed once", n)
	}
	if n := replay(webhook.ReplayJobsParams{Query: q, IDs: []string{"j6", "j5"}, Now: at(time.Minute)}); n != 1 {
		t.Errorf("ReplayJobs of m1's ended jobs among [j6 j5] = %d, want 1 (j6)", n)
	}
	checkState(t, s, "after a replay of j6 alone", "j2", webhook.JobFailed)
	if n := replay(webhook.ReplayJobsParams{Query: q, Now: at(time.Minute)}); n != 1 {
		t.Errorf("ReplayJobs of m1's ended jobs = %d, want 1 (j2; j6 is scheduled now)", n)
	}
	checkState(t, s, "j1 succeeded: not in the states given", "j1", webhook.JobSucceeded)
	checkState(t, s, "j4 is held: not ended", "j4", webhook.JobHeld)
	want := job("j2", "k-j2", at(time.Minute))
	want.UserID, want.CreatedAt, want.Attempts, want.ReplayFrom = "u2", at(-5*time.Minute), 0, 1
	checkJob(t, s, "after ReplayJobs", want)
	got := claim(t, s, at(time.Minute), "w", 10)
	if diff := cmp.Diff([]string{"j7", "j2", "j6"}, ids(got)); diff != "" {
		t.Errorf("Claim after ReplayJobs due at %v must take the replayed jobs (-want +got):\n%s", at(time.Minute), diff)
	}
	for _, j := range got {
		if (j.ReplayFrom == 1) != (j.ID != "j7") {
			t.Errorf("Claim returned %s with ReplayFrom %d, want %d", j.ID, j.ReplayFrom, map[bool]int{true: 1}[j.ID != "j7"])
		}
	}
	if n := replay(webhook.ReplayJobsParams{Query: webhook.JobsQuery{States: []webhook.JobState{webhook.JobSucceeded}}, Now: at(time.Minute)}); n != 1 {
		t.Errorf("ReplayJobs of succeeded jobs = %d, want 1 (j1)", n)
	}
}

func testReplayRefuses(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	mixedJobs(t, s)
	for _, p := range []webhook.ReplayJobsParams{
		{Now: at(0)},
		{Now: at(0), DryRun: true},
		{Query: webhook.JobsQuery{States: []webhook.JobState{webhook.JobFailed, webhook.JobScheduled}}, Now: at(0)},
		{Query: webhook.JobsQuery{States: []webhook.JobState{webhook.JobRunning}}, IDs: []string{"j2"}, Now: at(0)},
	} {
		if _, err := in.ReplayJobs(t.Context(), p); !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("ReplayJobs(%+v) = %v, want an error wrapping ErrInvalid", p, err)
		}
	}
	checkState(t, s, "after refused replays", "j2", webhook.JobFailed)
}

func testReplayConcurrent(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	const n = 40
	var batch []*webhook.Job
	for i := range n {
		batch = append(batch, job(fmt.Sprintf("c%02d", i), fmt.Sprintf("kc%02d", i), at(0)))
	}
	enqueueJobs(t, s, batch...)
	var names []string
	for _, j := range batch {
		names = append(names, j.ID)
	}
	endJobs(t, s, webhook.JobFailed, names...)
	var wg sync.WaitGroup
	moved := make([]int, 4)
	errs := make([]error, 4)
	for i := range moved {
		wg.Go(func() {
			moved[i], errs[i] = in.ReplayJobs(t.Context(), webhook.ReplayJobsParams{
				Query: webhook.JobsQuery{MessageID: "m1", States: []webhook.JobState{webhook.JobFailed}}, Now: at(time.Minute),
			})
		})
	}
	wg.Wait()
	total := 0
	for i := range moved {
		must(t, "ReplayJobs", errs[i])
		total += moved[i]
	}
	if total != n {
		t.Errorf("four ReplayJobs at once of %d failed jobs moved %v, %d in all; want each job moved once", n, moved, total)
	}
	if got := claim(t, s, at(time.Minute), "w", 1000); len(got) != n {
		t.Errorf("Claim after the replays = %d jobs, want %d", len(got), n)
	}
}
