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
	{"FinishRecordsTheAttempt", testAttemptRoundTrip},
	{"AttemptsAreNewestFirstThenRecordedLastFirst", testAttemptOrder},
	{"AttemptsFilterAndLimit", testAttemptFilter},
	{"CountSentCountsTheUsersSucceededAttemptsSince", testCountSent},
	{"DeleteAttemptsDeletesThoseBefore", testDeleteAttempts},
}

// attempt returns attempt number n of delivery id (of message m1 to user u1) at t.
func attempt(id string, n int, t time.Time) *webhook.Attempt {
	return &webhook.Attempt{DeliveryID: id, MessageID: "m1", MessageVersion: 2, UserID: "u1", Number: n, Time: t, Outcome: webhook.Failed}
}

// record appends attempts to the log through Finish, in order, for deliveries that it
// enqueues as needed. Each delivery's job stays claimed by the rule between its attempts.
func record(t *testing.T, s webhook.Store, as ...*webhook.Attempt) {
	t.Helper()
	held := map[string]*webhook.Job{}
	for _, a := range as {
		must(t, "Enqueue", s.Enqueue(t.Context(), []*webhook.Job{job(a.DeliveryID, "k-"+a.DeliveryID, at(0))}))
		for _, j := range mustClaim(t, s) {
			held[j.ID] = j
		}
		j := held[a.DeliveryID]
		if j == nil {
			t.Fatalf("job %s was not claimed", a.DeliveryID)
		}
		j.State, j.DueAt = webhook.JobScheduled, at(0)
		must(t, "Finish", s.Finish(t.Context(), j, a))
		held[j.ID] = mustClaim(t, s)[0]
	}
}

// mustClaim claims every due job at epoch with a long lease.
func mustClaim(t *testing.T, s webhook.Store) []*webhook.Job {
	t.Helper()
	jobs, err := s.Claim(t.Context(), at(0), "log", 1000*time.Hour, 1000)
	must(t, "Claim", err)
	return jobs
}

// attempts returns the attempts f selects.
func attempts(t *testing.T, s webhook.Store, f webhook.AttemptFilter) []webhook.Attempt {
	t.Helper()
	as, err := s.Attempts(t.Context(), f)
	must(t, "Attempts", err)
	return as
}

func testAttemptRoundTrip(t *testing.T, s webhook.Store) {
	a := &webhook.Attempt{
		DeliveryID: "d1", MessageID: "m1", MessageVersion: 3, UserID: "u1", Number: 2,
		Time: at(time.Second), Duration: 1234567 * time.Microsecond,
		Method: "POST", URL: "https://example.com/hook?api_key=REDACTED",
		RequestHeader:  http.Header{"Authorization": {"REDACTED"}, "Webhook-Id": {"d1"}, "X-Multi": {"a", "b"}},
		RequestBody:    `{"name":"Ann"}`,
		StatusCode:     503,
		ResponseHeader: http.Header{"Retry-After": {"120"}},
		ResponseBody:   "busy\n\u00e9",
		Err:            "unexpected status 503 Service Unavailable",
		Outcome:        webhook.Retrying,
		NextAttemptAt:  at(2 * time.Minute),
	}
	record(t, s, a)
	got := attempts(t, s, webhook.AttemptFilter{})
	if diff := cmp.Diff([]webhook.Attempt{*a}, got, diffOpts...); diff != "" {
		t.Errorf("Attempts must return the attempt Finish recorded (-recorded +returned):\n%s", diff)
	}
}

func testAttemptOrder(t *testing.T, s webhook.Store) {
	// Recorded out of time order; d2 and d3 share a time, d3 recorded last.
	record(t, s, attempt("d1", 1, at(time.Minute)), attempt("d2", 1, at(2*time.Minute)),
		attempt("d3", 1, at(2*time.Minute)), attempt("d4", 1, at(0)), attempt("d1", 2, at(3*time.Minute)))
	var got []string
	for _, a := range attempts(t, s, webhook.AttemptFilter{}) {
		got = append(got, fmt.Sprintf("%s#%d", a.DeliveryID, a.Number))
	}
	want := []string{"d1#2", "d3#1", "d2#1", "d1#1", "d4#1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Attempts must be newest first, the one recorded last first among equal times (-want +got):\n%s", diff)
	}
}

func testAttemptFilter(t *testing.T, s webhook.Store) {
	mk := func(id, msg, user string, n int, d time.Duration) *webhook.Attempt {
		a := attempt(id, n, at(d))
		a.MessageID, a.UserID = msg, user
		return a
	}
	record(t, s, mk("d1", "m1", "u1", 1, 0), mk("d2", "m1", "u2", 1, time.Second),
		mk("d3", "m2", "u1", 1, 2*time.Second), mk("d1", "m1", "u1", 2, 3*time.Second))
	for _, tt := range []struct {
		f    webhook.AttemptFilter
		want []string
	}{
		{webhook.AttemptFilter{}, []string{"d1", "d3", "d2", "d1"}},
		{webhook.AttemptFilter{MessageID: "m1"}, []string{"d1", "d2", "d1"}},
		{webhook.AttemptFilter{UserID: "u1"}, []string{"d1", "d3", "d1"}},
		{webhook.AttemptFilter{DeliveryID: "d1"}, []string{"d1", "d1"}},
		{webhook.AttemptFilter{MessageID: "m1", UserID: "u2"}, []string{"d2"}},
		{webhook.AttemptFilter{MessageID: "m2", UserID: "u2"}, nil},
		{webhook.AttemptFilter{Limit: 2}, []string{"d1", "d3"}},
		{webhook.AttemptFilter{MessageID: "m1", Limit: 2}, []string{"d1", "d2"}},
		{webhook.AttemptFilter{DeliveryID: "nope"}, nil},
	} {
		var got []string
		for _, a := range attempts(t, s, tt.f) {
			got = append(got, a.DeliveryID)
		}
		if diff := cmp.Diff(tt.want, got, diffOpts...); diff != "" {
			t.Errorf("Attempts(%+v) must return what the filter selects, newest first, at most Limit (-want +got):\n%s", tt.f, diff)
		}
	}
}

func testCountSent(t *testing.T, s webhook.Store) {
	mk := func(id, msg, user string, d time.Duration, outcome webhook.Outcome, ignoreCaps bool) *webhook.Attempt {
		a := attempt(id, 1, at(d))
		a.MessageID, a.UserID, a.Outcome, a.IgnoreCaps = msg, user, outcome, ignoreCaps
		return a
	}
	// Recorded out of time order on purpose.
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
		{"u1", "m1", 0, 3},
		{"u1", "m1", 2 * time.Hour, 2},
		{"u1", "exempt", 0, 1}, // IgnoreCaps counts when the message is named
		{"u1", "other", 0, 0},
	} {
		got, err := s.CountSent(t.Context(), tt.user, tt.message, at(tt.since))
		if err != nil || got != tt.want {
			t.Errorf("CountSent(%q, %q, epoch+%v) = %d, %v; want %d: the succeeded attempts of that user at or after since, of that message, or of all but IgnoreCaps ones",
				tt.user, tt.message, tt.since, got, err, tt.want)
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
	const old = 2345
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < old; i += 8 {
				id := fmt.Sprintf("old%04d", i)
				a := attempt(id, 1, at(time.Duration(i)*time.Millisecond))
				a.Outcome = webhook.Succeeded
				j := job(id, "k-"+id, at(0))
				j.State, j.Attempts, j.LeaseOwner = webhook.JobSucceeded, 1, "w"
				if err := s.Finish(t.Context(), j, a); !errors.Is(err, webhook.ErrNotFound) {
					t.Errorf("Finish of a job the Store does not hold = %v, want ErrNotFound", err)
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
	record(t, s, mk("after", time.Second), mk("at", 0), mk("before", -time.Microsecond), mk("later", time.Hour))

	n, err := p.DeleteAttempts(t.Context(), cut)
	if err != nil || n != old+1 {
		t.Fatalf("DeleteAttempts(epoch+1h) = %d, %v; want %d, the attempts before it", n, err, old+1)
	}
	var left []string
	for _, a := range attempts(t, s, webhook.AttemptFilter{}) {
		left = append(left, a.DeliveryID)
	}
	if want := []string{"later", "after", "at"}; !slices.Equal(left, want) {
		t.Errorf("Attempts after DeleteAttempts = %v, want %v: those before the time are gone, the one at it kept", left, want)
	}
	if got, err := s.CountSent(t.Context(), "u1", "", at(0)); err != nil || got != 3 {
		t.Errorf("CountSent after DeleteAttempts = %d, %v; want 3: deleted attempts are not counted", got, err)
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
