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

var attemptRules = []rule{
	{"FinishRecordsTheAttemptAsGiven", testAttemptRoundTrip},
	{"AttemptsAreNewestFirstThenRecordedLastFirst", testAttemptOrder},
	{"AttemptsSelectsByEveryFilterUpToLimit", testAttemptFilter},
	{"AttemptsOfAUsersSuccessesSinceATimeForCaps", testAttemptsForCaps},
	{"AttemptsBriefReturnsAtLeastTheBriefFields", testAttemptsBrief},
}

var prunerRules = []rule{
	{"DeleteAttemptsDeletesThoseBefore", testDeleteAttempts},
}

// attempt returns attempt number n of job id (of message m1 to user u1) at t, which failed.
func attempt(id string, n int, t time.Time) *webhook.Attempt {
	return &webhook.Attempt{JobID: id, MessageID: "m1", MessageVersion: 2, UserID: "u1", Number: n, Time: t, Outcome: webhook.Failed}
}

// record appends attempts to the log through Finish, one call each, in order, for jobs that
// it enqueues as needed. Each job stays claimed by the rule between its attempts.
func record(t *testing.T, s webhook.Store, as ...*webhook.Attempt) {
	t.Helper()
	claimed := map[string]*webhook.Job{}
	for _, a := range as {
		if claimed[a.JobID] == nil {
			enqueueJobs(t, s, job(a.JobID, "k-"+a.JobID, at(0)))
			for _, j := range claimFor(t, s, at(0), "log", 1000*time.Hour, 1000).Jobs {
				claimed[j.ID] = j
			}
		}
		j := claimed[a.JobID]
		if j == nil {
			t.Fatalf("job %s was not claimed", a.JobID)
		}
		j.State, j.DueAt = webhook.JobScheduled, at(0)
		must(t, "Finish", finishOne(t, s, j, a))
		again := claimFor(t, s, at(0), "log", 1000*time.Hour, 1000).Jobs
		if len(again) != 1 || again[0].ID != a.JobID {
			t.Fatalf("Claim after Finish of job %s with a retry due now = %v, want that job", a.JobID, ids(again))
		}
		claimed[a.JobID] = again[0]
	}
}

// attempts returns the attempts q selects.
func attempts(t *testing.T, s webhook.Store, q webhook.AttemptQuery) []webhook.Attempt {
	t.Helper()
	as, err := s.Attempts(t.Context(), q)
	must(t, "Attempts", err)
	return as
}

// attemptIDs returns the job ID and number of each of as, as "id#number".
func attemptIDs(as []webhook.Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s#%d", a.JobID, a.Number)
	}
	return out
}

func testAttemptRoundTrip(t *testing.T, s webhook.Store) {
	a := &webhook.Attempt{
		JobID: "j1", MessageID: "m1", MessageVersion: 3, UserID: "u1", Variant: "B", Test: true, Number: 2,
		Time: at(time.Second), Duration: 1234567 * time.Microsecond,
		Method: "POST", URL: "https://example.com/hook?api_key=REDACTED",
		RequestHeader:  http.Header{"Authorization": {"REDACTED"}, "Webhook-Id": {"j1"}, "X-Multi": {"a", "b"}},
		RequestBody:    `{"name":"Ann"}`,
		StatusCode:     503,
		ResponseHeader: http.Header{"Retry-After": {"120"}},
		ResponseBody:   "busy\n\u00e9",
		Err:            "unexpected status 503 Service Unavailable",
		Outcome:        webhook.Retrying,
		NextAttemptAt:  at(2*time.Minute + µs),
		IgnoreCaps:     true,
		Host:           "example.com",
		Replay:         true,
	}
	record(t, s, a)
	if diff := cmp.Diff([]webhook.Attempt{*a}, attempts(t, s, webhook.AttemptQuery{}), diffOpts...); diff != "" {
		t.Errorf("Attempts must return the attempt Finish recorded (-recorded +returned):\n%s", diff)
	}
}

func testAttemptOrder(t *testing.T, s webhook.Store) {
	// Recorded out of time order; j2 and j3 share a time, j3 recorded last.
	record(t, s, attempt("j1", 1, at(time.Minute)), attempt("j2", 1, at(2*time.Minute)),
		attempt("j3", 1, at(2*time.Minute)), attempt("j4", 1, at(0)), attempt("j1", 2, at(3*time.Minute)))
	want := []string{"j1#2", "j3#1", "j2#1", "j1#1", "j4#1"}
	if diff := cmp.Diff(want, attemptIDs(attempts(t, s, webhook.AttemptQuery{}))); diff != "" {
		t.Errorf("Attempts must be newest first, the one recorded last first among equal times (-want +got):\n%s", diff)
	}
}

func testAttemptFilter(t *testing.T, s webhook.Store) {
	mk := func(id, msg, user string, n int, d time.Duration, outcome webhook.Outcome) *webhook.Attempt {
		a := attempt(id, n, at(d))
		a.MessageID, a.UserID, a.Outcome = msg, user, outcome
		return a
	}
	j2, j3 := mk("j2", "m1", "u2", 1, time.Second, webhook.Succeeded), mk("j3", "m2", "u1", 1, 2*time.Second, webhook.Failed)
	j2.Variant, j3.Variant = "A", webhook.ControlGroup
	record(t, s, mk("j1", "m1", "u1", 1, 0, webhook.Retrying), j2, j3, mk("j1", "m1", "u1", 2, 3*time.Second, webhook.Succeeded))
	for _, tt := range []struct {
		q    webhook.AttemptQuery
		want []string
	}{
		{webhook.AttemptQuery{}, []string{"j1#2", "j3#1", "j2#1", "j1#1"}},
		{webhook.AttemptQuery{JobID: "j1"}, []string{"j1#2", "j1#1"}},
		{webhook.AttemptQuery{MessageID: "m1"}, []string{"j1#2", "j2#1", "j1#1"}},
		{webhook.AttemptQuery{UserID: "u1"}, []string{"j1#2", "j3#1", "j1#1"}},
		{webhook.AttemptQuery{MessageID: "m1", UserID: "u2"}, []string{"j2#1"}},
		{webhook.AttemptQuery{MessageID: "m2", UserID: "u2"}, nil},
		{webhook.AttemptQuery{JobID: "nope"}, nil},
		{webhook.AttemptQuery{Variant: "A"}, []string{"j2#1"}},
		{webhook.AttemptQuery{Variant: webhook.ControlGroup, UserID: "u1"}, []string{"j3#1"}},
		{webhook.AttemptQuery{Variant: "B"}, nil},
		{webhook.AttemptQuery{Outcomes: []webhook.Outcome{webhook.Succeeded}}, []string{"j1#2", "j2#1"}},
		{webhook.AttemptQuery{Outcomes: []webhook.Outcome{webhook.Failed, webhook.Retrying}}, []string{"j3#1", "j1#1"}},
		{webhook.AttemptQuery{Outcomes: []webhook.Outcome{webhook.Cancelled}}, nil},
		{webhook.AttemptQuery{Since: at(time.Second)}, []string{"j1#2", "j3#1", "j2#1"}},
		{webhook.AttemptQuery{Since: at(time.Second + µs)}, []string{"j1#2", "j3#1"}},
		{webhook.AttemptQuery{JobID: "j1", Since: at(0), Outcomes: []webhook.Outcome{webhook.Retrying}}, []string{"j1#1"}},
		{webhook.AttemptQuery{Limit: 2}, []string{"j1#2", "j3#1"}},
		{webhook.AttemptQuery{MessageID: "m1", Limit: 2}, []string{"j1#2", "j2#1"}},
		{webhook.AttemptQuery{UserID: "u1", Limit: 10}, []string{"j1#2", "j3#1", "j1#1"}},
	} {
		if diff := cmp.Diff(tt.want, attemptIDs(attempts(t, s, tt.q)), diffOpts...); diff != "" {
			t.Errorf("Attempts(%+v) must return what the query selects, newest first, at most Limit (-want +got):\n%s", tt.q, diff)
		}
	}
}

// testAttemptsForCaps checks the query the Sender makes before the first attempt of a job
// that caps apply to; a Store may answer it from an index of its own.
func testAttemptsForCaps(t *testing.T, s webhook.Store) {
	mk := func(id, msg, user string, d time.Duration, outcome webhook.Outcome, ignoreCaps bool) *webhook.Attempt {
		a := attempt(id, 1, at(d))
		a.MessageID, a.UserID, a.Outcome, a.IgnoreCaps = msg, user, outcome, ignoreCaps
		return a
	}
	// Recorded out of time order on purpose; b, d, e, f, g and h share a time.
	record(t, s,
		mk("c", "m1", "u1", 3*time.Hour, webhook.Succeeded, false),
		mk("a", "m1", "u1", time.Hour, webhook.Succeeded, false),
		mk("b", "m1", "u1", 2*time.Hour, webhook.Succeeded, false),
		mk("d", "exempt", "u1", 2*time.Hour, webhook.Succeeded, true),
		mk("e", "m1", "u1", 2*time.Hour, webhook.Retrying, false),
		mk("f", "m1", "u1", 2*time.Hour, webhook.Failed, false),
		mk("g", "m1", "u1", 2*time.Hour, webhook.Skipped, false),
		mk("h", "m1", "u2", 2*time.Hour, webhook.Succeeded, false))
	for _, tt := range []struct {
		user    string
		message string
		since   time.Duration
		limit   int
		want    []string
	}{
		{"u1", "", 0, 0, []string{"c#1", "d#1", "b#1", "a#1"}},
		{"u1", "", time.Hour, 0, []string{"c#1", "d#1", "b#1", "a#1"}}, // at Since is selected
		{"u1", "", time.Hour + µs, 0, []string{"c#1", "d#1", "b#1"}},
		{"u1", "", 3*time.Hour + µs, 0, nil},
		{"u1", "", 0, 2, []string{"c#1", "d#1"}},
		{"u1", "m1", 0, 0, []string{"c#1", "b#1", "a#1"}},
		{"u2", "", 0, 0, []string{"h#1"}},
		{"nobody", "", 0, 0, nil},
	} {
		for _, brief := range []bool{true, false} {
			q := webhook.AttemptQuery{UserID: tt.user, MessageID: tt.message, Outcomes: []webhook.Outcome{webhook.Succeeded}, Since: at(tt.since), Limit: tt.limit, Brief: brief}
			got := attempts(t, s, q)
			if diff := cmp.Diff(tt.want, attemptIDs(got), diffOpts...); diff != "" {
				t.Errorf("Attempts(%+v) must return the user's succeeded attempts at or after Since, newest first, the one recorded last first among equal times (-want +got):\n%s", q, diff)
			}
			for _, a := range got {
				if a.IgnoreCaps != (a.JobID == "d") || a.MessageID == "" {
					t.Errorf("Attempts(%+v) returned attempt %s of message %q with IgnoreCaps %v, want it as recorded", q, a.JobID, a.MessageID, a.IgnoreCaps)
				}
			}
		}
	}
}

func testAttemptsBrief(t *testing.T, s webhook.Store) {
	full := func(id string, d time.Duration, outcome webhook.Outcome) *webhook.Attempt {
		a := attempt(id, 1, at(d))
		a.Outcome, a.IgnoreCaps, a.Duration, a.Variant, a.Test = outcome, true, time.Second, "B", true
		a.Method, a.URL, a.RequestHeader, a.RequestBody = "POST", "https://example.com/", http.Header{"A": {"b"}}, "{}"
		a.StatusCode, a.ResponseHeader, a.ResponseBody, a.Err = 500, http.Header{"C": {"d"}}, "oops", "unexpected status"
		return a
	}
	recorded := []*webhook.Attempt{full("j1", 0, webhook.Succeeded), full("j2", time.Second, webhook.Failed)}
	record(t, s, recorded...)
	for _, q := range []webhook.AttemptQuery{
		{Brief: true},
		{Brief: true, UserID: "u1", Outcomes: []webhook.Outcome{webhook.Succeeded}, Since: at(0)},
		{Brief: true, JobID: "j2"},
	} {
		got := attempts(t, s, q)
		var want []string
		for _, a := range slices.Backward(recorded) {
			if q.Match(a) {
				want = append(want, a.JobID+"#1")
			}
		}
		if diff := cmp.Diff(want, attemptIDs(got), diffOpts...); diff != "" {
			t.Errorf("Attempts(%+v) with Brief must select as without it (-want +got):\n%s", q, diff)
		}
		for _, a := range got {
			saved := *recorded[slices.IndexFunc(recorded, func(r *webhook.Attempt) bool { return r.JobID == a.JobID })]
			brief := webhook.Attempt{JobID: saved.JobID, MessageID: saved.MessageID, UserID: saved.UserID, Variant: saved.Variant,
				Number: saved.Number, Time: saved.Time, Outcome: saved.Outcome, IgnoreCaps: saved.IgnoreCaps, Test: saved.Test}
			if cmp.Diff(brief, a, diffOpts...) != "" && cmp.Diff(saved, a, diffOpts...) != "" {
				t.Errorf("Attempts(%+v) with Brief returned (-brief +got):\n%s\nwant JobID, MessageID, UserID, Variant, Number, Time, Outcome, IgnoreCaps and Test as recorded, and the other fields empty or as recorded",
					q, cmp.Diff(brief, a, diffOpts...))
			}
		}
	}
}

// testDeleteAttempts checks the optional role webhook.AttemptPruner, if the Store has it.
func testDeleteAttempts(t *testing.T, s webhook.Store) {
	p, ok := s.(webhook.AttemptPruner)
	if !ok {
		t.Skip("the Store does not implement webhook.AttemptPruner, an optional role")
	}
	// More old attempts than one transaction of a Store that deletes in chunks would take,
	// recorded through Finish of jobs the Store does not hold, from several goroutines;
	// then, recorded out of time order, a succeeded attempt just before the cut, one at it
	// and two after.
	const old, callers, batch = 2345, 8, 50
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			var items []webhook.Finished
			for i := c; i < old; i += callers {
				id := fmt.Sprintf("old%04d", i)
				a := attempt(id, 1, at(time.Duration(i)*time.Millisecond))
				a.Outcome = webhook.Succeeded
				j := job(id, "k-"+id, at(0))
				j.State, j.Attempts, j.LeaseOwner = webhook.JobSucceeded, 1, "w"
				items = append(items, webhook.Finished{Job: j, Attempt: a})
			}
			for chunk := range slices.Chunk(items, batch) {
				errs, err := s.Finish(t.Context(), webhook.FinishParams{Jobs: chunk})
				if err == nil && len(errs) == len(chunk) && !errors.Is(errs[0], webhook.ErrNotFound) {
					err = fmt.Errorf("item 0: %w", errs[0])
				}
				if err != nil {
					t.Errorf("Finish of %d jobs the Store does not hold = %v, want ErrNotFound for each", len(chunk), err)
					return
				}
			}
		})
	}
	wg.Wait()
	cut := at(time.Hour)
	mk := func(id string, d time.Duration) *webhook.Attempt {
		a := attempt(id, 1, cut.Add(d))
		a.Outcome = webhook.Succeeded
		return a
	}
	record(t, s, mk("after", time.Second), mk("at", 0), mk("before", -µs), mk("later", time.Hour))

	n, err := p.DeleteAttempts(t.Context(), cut)
	if err != nil || n != old+1 {
		t.Fatalf("DeleteAttempts(epoch+1h) = %d, %v; want %d, the attempts before it", n, err, old+1)
	}
	want := []string{"later#1", "after#1", "at#1"}
	if got := attemptIDs(attempts(t, s, webhook.AttemptQuery{})); !slices.Equal(got, want) {
		t.Errorf("Attempts after DeleteAttempts = %v, want %v: those before the time are gone, the one at it kept", got, want)
	}
	caps := webhook.AttemptQuery{UserID: "u1", Outcomes: []webhook.Outcome{webhook.Succeeded}, Since: at(0), Brief: true}
	if got := attemptIDs(attempts(t, s, caps)); !slices.Equal(got, want) {
		t.Errorf("Attempts(%+v) after DeleteAttempts = %v, want %v: deleted attempts are gone from every query", caps, got, want)
	}
	if n, err := p.DeleteAttempts(t.Context(), cut); err != nil || n != 0 {
		t.Errorf("DeleteAttempts again = %d, %v; want 0, nil", n, err)
	}
	// Times beyond what a Store keeps: nothing is before the year 1000, and everything is
	// before the year 300000.
	if n, err := p.DeleteAttempts(t.Context(), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 0 {
		t.Errorf("DeleteAttempts(year 1000) = %d, %v; want 0, nil", n, err)
	}
	if n, err := p.DeleteAttempts(t.Context(), time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 3 {
		t.Errorf("DeleteAttempts(year 300000) = %d, %v; want 3, nil: every attempt is before it", n, err)
	}
}
