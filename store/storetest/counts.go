package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

// mover makes random calls that save or move jobs: Enqueue (with keys taken), Claim (taking
// jobs whose leases expired), Finish (of current and stale leases, to every state),
// UpdateJobs (between every pair of states), ReplayJobs (and its dry runs), and lets time
// pass between them.
type mover struct {
	s      webhook.Store
	in     webhook.Inspector
	rnd    *rand.Rand
	name   string // the prefix of the IDs of its jobs and the names of its claimers
	now    time.Time
	next   int                     // the number of the last job made
	leased map[string]*webhook.Job // the jobs claimed, as their latest claim returned them
	known  []string                // the IDs of the jobs saved
}

// newMover returns a mover whose choices follow seed.
func newMover(s webhook.Store, in webhook.Inspector, name string, seed uint64) *mover {
	return &mover{s: s, in: in, rnd: rand.New(rand.NewPCG(seed, 14)), name: name, now: at(0), leased: map[string]*webhook.Job{}}
}

// The messages, users and states the mover picks from.
var (
	moverMessages = []string{"m1", "m2", "m3"}
	moverUsers    = []string{"u1", "u2"}
	notRunning    = []webhook.JobState{webhook.JobScheduled, webhook.JobHeld, webhook.JobSucceeded,
		webhook.JobFailed, webhook.JobSkipped, webhook.JobCancelled}
	endStates = []webhook.JobState{webhook.JobSucceeded, webhook.JobFailed, webhook.JobSkipped, webhook.JobCancelled}
)

// pick returns one of list.
func (m *mover) pick(list []string) string { return list[m.rnd.IntN(len(list))] }

// someOf returns some of states, at least one.
func (m *mover) someOf(states []webhook.JobState) []webhook.JobState {
	var out []webhook.JobState
	for _, st := range states {
		if m.rnd.IntN(2) == 0 {
			out = append(out, st)
		}
	}
	if len(out) == 0 {
		out = append(out, states[m.rnd.IntN(len(states))])
	}
	return out
}

// someIDs returns one to four IDs of the jobs it saved, maybe repeated, or none if it saved
// none.
func (m *mover) someIDs() []string {
	var out []string
	for range 1 + m.rnd.IntN(4) {
		if len(m.known) > 0 {
			out = append(out, m.known[m.rnd.IntN(len(m.known))])
		}
	}
	return out
}

// step makes one call, and returns what it did or the call's error.
func (m *mover) step(ctx context.Context) (string, error) {
	switch op := m.rnd.IntN(10); {
	case op < 3:
		return m.enqueue(ctx)
	case op < 5:
		owner := fmt.Sprintf("%s-w%d", m.name, m.next)
		res, err := m.s.Claim(ctx, webhook.ClaimParams{Now: m.now, Owner: owner, Lease: time.Duration(1+m.rnd.IntN(3)) * time.Minute, Limit: 1 + m.rnd.IntN(5)})
		for _, j := range res.Jobs {
			m.leased[j.ID] = j
		}
		return fmt.Sprintf("Claim by %s: %v", owner, ids(res.Jobs)), err
	case op < 7:
		return m.finish(ctx)
	case op < 8:
		p := webhook.UpdateJobsParams{From: m.someOf(notRunning), To: notRunning[m.rnd.IntN(len(notRunning))], Now: m.now}
		switch m.rnd.IntN(3) {
		case 0:
			p.Filter.IDs = m.someIDs()
		case 1:
			p.Filter.MessageID = m.pick(moverMessages)
		default:
			p.Filter.UserID = m.pick(moverUsers)
		}
		if len(p.Filter.IDs) == 0 && p.Filter.MessageID == "" && p.Filter.UserID == "" {
			p.Filter.MessageID = "m1"
		}
		if p.To == webhook.JobScheduled && m.rnd.IntN(2) == 0 {
			p.DueAt = m.now
		}
		moved, err := m.s.UpdateJobs(ctx, p)
		return fmt.Sprintf("UpdateJobs %+v: %v", p, ids(moved)), err
	case op < 9:
		p := webhook.ReplayJobsParams{Now: m.now, DryRun: m.rnd.IntN(3) == 0}
		if m.rnd.IntN(2) == 0 {
			p.Query.MessageID = m.pick(moverMessages)
		}
		if m.rnd.IntN(2) == 0 {
			p.Query.States = m.someOf(endStates)
		}
		if m.rnd.IntN(2) == 0 || (p.Query.MessageID == "" && len(p.Query.States) == 0) {
			if p.IDs = m.someIDs(); len(p.IDs) == 0 {
				p.Query.MessageID = "m2"
			}
		}
		n, err := m.in.ReplayJobs(ctx, p)
		return fmt.Sprintf("ReplayJobs %+v: %d", p, n), err
	}
	d := time.Duration(m.rnd.IntN(150)) * time.Second
	m.now = m.now.Add(d)
	return fmt.Sprintf("time passes %v", d), nil
}

// enqueue enqueues one to four jobs, some held, some created or due at the zero time, with
// keys of a small set, so that some are taken.
func (m *mover) enqueue(ctx context.Context) (string, error) {
	var batch []*webhook.Job
	for range 1 + m.rnd.IntN(4) {
		m.next++
		j := job(fmt.Sprintf("%s%03d", m.name, m.next), fmt.Sprintf("rk%d", m.rnd.IntN(80)), m.now.Add(time.Duration(m.rnd.IntN(5)-2)*time.Minute))
		j.MessageID, j.UserID, j.CreatedAt = m.pick(moverMessages), m.pick(moverUsers), m.now
		if m.rnd.IntN(4) == 0 {
			j.State = webhook.JobHeld
		}
		switch m.rnd.IntN(12) { // the zero time is before every other
		case 0:
			j.CreatedAt = time.Time{}
		case 1:
			j.DueAt = time.Time{}
		}
		batch = append(batch, j)
	}
	res, err := m.s.Enqueue(ctx, webhook.EnqueueParams{Jobs: batch})
	if err != nil {
		return "Enqueue", err
	}
	saved := 0
	for i, j := range batch {
		if res.JobIDs[i] == j.ID {
			m.known, saved = append(m.known, j.ID), saved+1
		}
	}
	return fmt.Sprintf("Enqueue of %d jobs, %d saved", len(batch), saved), nil
}

// finish finishes some of the jobs it claimed, each in a state other than running; some stay
// in leased, to be finished again later with a lease that may have passed to another claimer.
func (m *mover) finish(ctx context.Context) (string, error) {
	var items []webhook.Finished
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range m.leased {
			if !yield(id) {
				return
			}
		}
	}) {
		if m.rnd.IntN(2) == 0 {
			continue
		}
		j := *m.leased[id]
		j.State, j.Attempts, j.DueAt = notRunning[m.rnd.IntN(len(notRunning))], j.Attempts+1, m.now.Add(time.Minute)
		items = append(items, webhook.Finished{Job: &j})
		if m.rnd.IntN(3) > 0 {
			delete(m.leased, id)
		}
	}
	if len(items) == 0 {
		return "Finish of none", nil
	}
	errs, err := m.s.Finish(ctx, webhook.FinishParams{Jobs: items})
	if err != nil {
		return "Finish", err
	}
	lost := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, webhook.ErrLeaseLost):
			lost++
		case err != nil:
			return "Finish of " + items[i].Job.ID, err
		}
	}
	return fmt.Sprintf("Finish of %d jobs, %d leases lost", len(items), lost), nil
}

// testCountsMatchRecount makes 300 calls of a mover, and after each compares CountJobs, and
// QueueStats if the Store is a QueueReader, with a recount of the jobs that Jobs returns.
func testCountsMatchRecount(t *testing.T, s webhook.Store) {
	m := newMover(s, inspector(t, s), "r", 5)
	var log []string // the calls made, for the failure message
	for range 300 {
		call, err := m.step(t.Context())
		must(t, call, err)
		log = append(log, call)
		checkCounts(t, s, m.now, "after these calls:\n"+strings.Join(log[max(0, len(log)-10):], "\n"))
	}
}

// testCountsMatchRecountAtOnce makes the calls of four movers at once, and then compares
// CountJobs and QueueStats with a recount.
func testCountsMatchRecountAtOnce(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		m := newMover(s, in, fmt.Sprintf("c%d-", i), uint64(i))
		wg.Go(func() {
			for range 60 {
				if call, err := m.step(t.Context()); err != nil {
					errs[i] = fmt.Errorf("%s: %w", call, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, "a call made at the same time as others", err)
	}
	checkCounts(t, s, at(time.Hour), "after four sequences of calls made at once")
}

// checkCounts fails the rule unless CountJobs, and QueueStats at now if s is a QueueReader,
// count the jobs that Jobs returns.
func checkCounts(t *testing.T, s webhook.Store, now time.Time, when string) {
	t.Helper()
	all := jobs(t, s, webhook.JobQuery{})
	by := map[string]map[webhook.JobState]int64{}
	var queue webhook.QueueStats
	for _, j := range all {
		if by[j.MessageID] == nil {
			by[j.MessageID] = map[webhook.JobState]int64{}
		}
		by[j.MessageID][j.State]++
		switch j.State {
		case webhook.JobScheduled:
			queue.Scheduled++
		case webhook.JobRunning:
			queue.Running++
		case webhook.JobHeld:
			queue.Held++
		}
	}
	var want []string
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range by {
			if !yield(id) {
				return
			}
		}
	}) {
		line := id
		for _, st := range webhook.JobStates() {
			if n := by[id][st]; n != 0 {
				line += fmt.Sprintf(" %s=%d", st, n)
			}
		}
		want = append(want, line)
	}
	if got := countsOf(t, s.(webhook.Inspector)); !gocmp.Equal(want, got) {
		t.Fatalf("%s\nCountJobs must count the jobs that Jobs returns (-want +got):\n%s", when, gocmp.Diff(want, got))
	}
	if qr, ok := s.(webhook.QueueReader); ok {
		st := queueStats(t, qr, now)
		st.OldestDue = time.Time{}
		if st != queue {
			t.Fatalf("%s\nQueueStats = %+v, want %+v, as Jobs returns them", when, st, queue)
		}
	}
}

// testFindJobsMatchesJobs makes 150 calls of a mover, then compares, for random queries, what
// FindJobs returns, a page at a time, and what a ReplayJobs dry run counts with the jobs that
// Jobs returns and the query selects by JobsQuery.Match.
func testFindJobsMatchesJobs(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	m := newMover(s, in, "f", 9)
	for range 150 {
		call, err := m.step(t.Context())
		must(t, call, err)
	}
	all := jobs(t, s, webhook.JobQuery{})
	slices.SortFunc(all, func(a, b *webhook.Job) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	// A random time among the jobs' CreatedAt or DueAt, or, three times in four, zero.
	someTime := func(due bool) time.Time {
		if m.rnd.IntN(4) > 0 {
			return time.Time{}
		}
		j := all[m.rnd.IntN(len(all))]
		if due {
			return j.DueAt
		}
		return j.CreatedAt
	}
	for range 60 {
		q := webhook.JobsQuery{CreatedSince: someTime(false), CreatedBefore: someTime(false), DueSince: someTime(true), DueBefore: someTime(true)}
		if m.rnd.IntN(2) == 0 {
			q.MessageID = m.pick(moverMessages)
		}
		if m.rnd.IntN(3) == 0 {
			q.UserID = m.pick(moverUsers)
		}
		if m.rnd.IntN(2) == 0 {
			q.States = m.someOf(append(slices.Clip(notRunning), webhook.JobRunning))
		}
		var want []string
		replayable := 0
		for _, j := range all {
			if q.Match(j) {
				want = append(want, j.ID)
				if j.State.Ended() {
					replayable++
				}
			}
		}
		var got []string
		p := webhook.FindJobsParams{Query: q, Limit: 1 + m.rnd.IntN(7)}
		for page := 0; ; page++ {
			js := findJobs(t, in, p)
			got = append(got, ids(js)...)
			if len(js) < p.Limit || page > len(all) {
				break
			}
			p.AfterCreatedAt, p.AfterID = js[len(js)-1].CreatedAt, js[len(js)-1].ID
		}
		if diff := gocmp.Diff(want, got, diffOpts...); diff != "" {
			t.Errorf("FindJobs(%+v), in pages of %d, must return the jobs the query matches, newest first (-want +got):\n%s", q, p.Limit, diff)
		}
		if len(q.States) > 0 && slices.ContainsFunc(q.States, func(st webhook.JobState) bool { return !st.Ended() }) {
			continue
		}
		if q.MessageID == "" && q.UserID == "" && len(q.States) == 0 && q.CreatedSince.IsZero() && q.CreatedBefore.IsZero() &&
			q.DueSince.IsZero() && q.DueBefore.IsZero() {
			continue
		}
		n, err := in.ReplayJobs(t.Context(), webhook.ReplayJobsParams{Query: q, Now: m.now, DryRun: true})
		must(t, "ReplayJobs", err)
		if n != replayable {
			t.Errorf("ReplayJobs dry run of %+v = %d, want %d: the ended jobs the query matches", q, n, replayable)
		}
	}
}

// testFindAttemptsMatchesLog logs 120 random attempts, then compares, for random queries,
// what FindAttempts returns, a page at a time, with the attempts of the whole log, newest
// first, that AttemptLogQuery.Match selects, and what CountHosts returns with a count of
// the log.
func testFindAttemptsMatchesLog(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	rnd := rand.New(rand.NewPCG(3, 14))
	outcomes := []webhook.Outcome{webhook.Succeeded, webhook.Retrying, webhook.Failed, webhook.Blocked, webhook.Skipped, webhook.Cancelled}
	pickOutcomes := func() []webhook.Outcome {
		var out []webhook.Outcome
		for _, o := range outcomes {
			if rnd.IntN(3) == 0 {
				out = append(out, o)
			}
		}
		return out
	}
	numbers := map[string]int{} // the last Number of each job's attempts
	for call := range 12 {
		var items []webhook.Finished
		for range 10 {
			id := fmt.Sprintf("x%d", rnd.IntN(8))
			numbers[id]++
			a := attempt(id, numbers[id], at(time.Duration(rnd.IntN(20))*time.Second))
			a.MessageID, a.UserID = moverMessages[rnd.IntN(3)], moverUsers[rnd.IntN(2)]
			a.Variant = []string{"", "A", "B"}[rnd.IntN(3)]
			a.Outcome = outcomes[rnd.IntN(len(outcomes))]
			a.StatusCode = []int{0, 200, 204, 302, 404, 429, 500, 503}[rnd.IntN(8)]
			if call%3 == 0 { // a call whose attempts all succeeded, as most are: a Store may keep those apart
				a.Outcome, a.StatusCode = webhook.Succeeded, []int{200, 204}[rnd.IntN(2)]
			}
			a.Host = []string{"", "a.example", "b.example"}[rnd.IntN(3)]
			// Jobs the Store does not hold: Finish logs their attempts all the same.
			items = append(items, webhook.Finished{Job: &webhook.Job{ID: id, LeaseOwner: "w", State: webhook.JobFailed}, Attempt: a})
		}
		finish(t, s, items...)
	}
	log := findAttempts(t, in, webhook.FindAttemptsParams{})
	if len(log) != 120 {
		t.Fatalf("FindAttempts of the whole log = %d attempts, want the 120 logged", len(log))
	}
	someTime := func() time.Time {
		if rnd.IntN(3) > 0 {
			return time.Time{}
		}
		return at(time.Duration(rnd.IntN(22)) * time.Second)
	}
	for range 60 {
		q := webhook.AttemptLogQuery{Outcomes: pickOutcomes(), Since: someTime(), Until: someTime()}
		switch rnd.IntN(5) {
		case 0:
			q.JobID = fmt.Sprintf("x%d", rnd.IntN(8))
		case 1:
			q.MessageID = moverMessages[rnd.IntN(3)]
		case 2:
			q.UserID = moverUsers[rnd.IntN(2)]
		case 3:
			q.Variant = []string{"A", "B"}[rnd.IntN(2)]
		}
		if rnd.IntN(2) == 0 {
			q.StatusClass = []int{-1, 2, 3, 4, 5}[rnd.IntN(5)]
		}
		var want []string
		for i := range log {
			if q.Match(&log[i]) {
				want = append(want, attemptIDs(log[i:i+1])...)
			}
		}
		var got []string
		p := webhook.FindAttemptsParams{Query: q, Limit: 1 + rnd.IntN(7)}
		for page := 0; ; page++ {
			as := findAttempts(t, in, p)
			got = append(got, attemptIDs(as)...)
			if len(as) < p.Limit || page > len(log) {
				break
			}
			p.AfterTime, p.AfterSeq = as[len(as)-1].Time, as[len(as)-1].Seq
		}
		if diff := gocmp.Diff(want, got, diffOpts...); diff != "" {
			t.Errorf("FindAttempts(%+v), in pages of %d, must return the attempts the query matches, newest first (-want +got):\n%s", q, p.Limit, diff)
		}
	}
	for d := range 22 {
		since := at(time.Duration(d) * time.Second)
		var want []webhook.HostStats
		for _, host := range []string{"a.example", "b.example"} {
			h := webhook.HostStats{Host: host}
			for _, a := range log {
				if a.Host == host && !a.Time.Before(since) {
					h.Attempts++
					if a.Outcome == webhook.Succeeded {
						h.Succeeded++
					}
					if a.Time.After(h.LastAttempt) {
						h.LastAttempt = a.Time
					}
				}
			}
			if h.Attempts > 0 {
				want = append(want, h)
			}
		}
		got, err := in.CountHosts(t.Context(), webhook.CountHostsParams{Since: since})
		must(t, "CountHosts", err)
		if diff := gocmp.Diff(want, got, diffOpts...); diff != "" {
			t.Errorf("CountHosts(since %v) must count the log's attempts by host (-want +got):\n%s", since, diff)
		}
	}
}
