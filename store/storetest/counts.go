package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

// testCountsMatchRecount runs a random but fixed sequence of every call that saves or moves
// jobs (Enqueue with keys taken, Claim taking jobs whose leases expired, Finish of current and
// stale leases, UpdateJobs between every pair of states, ReplayJobs and its dry runs), and after
// each call compares CountJobs, and QueueStats if the Store is a QueueReader, with a recount
// of the jobs that Jobs returns.
func testCountsMatchRecount(t *testing.T, s webhook.Store) {
	in := inspector(t, s)
	qr, _ := s.(webhook.QueueReader)
	rnd := rand.New(rand.NewPCG(14, 5))
	messages, users := []string{"m1", "m2", "m3"}, []string{"u1", "u2"}
	pick := func(list []string) string { return list[rnd.IntN(len(list))] }
	notRunning := []webhook.JobState{webhook.JobScheduled, webhook.JobHeld, webhook.JobSucceeded,
		webhook.JobFailed, webhook.JobSkipped, webhook.JobCancelled}
	ended := []webhook.JobState{webhook.JobSucceeded, webhook.JobFailed, webhook.JobSkipped, webhook.JobCancelled}
	someOf := func(states []webhook.JobState) []webhook.JobState {
		var out []webhook.JobState
		for _, st := range states {
			if rnd.IntN(2) == 0 {
				out = append(out, st)
			}
		}
		if len(out) == 0 {
			out = append(out, states[rnd.IntN(len(states))])
		}
		return out
	}
	now, next := at(0), 0
	leased := map[string]*webhook.Job{} // the jobs claimed, as their latest claim returned them
	var known []string                  // the IDs of the jobs saved
	someIDs := func() []string {
		var out []string
		for range 1 + rnd.IntN(4) {
			if len(known) > 0 {
				out = append(out, known[rnd.IntN(len(known))])
			}
		}
		return out
	}
	var log []string // the calls made, for the failure message
	for step := range 300 {
		var call string
		switch op := rnd.IntN(10); {
		case op < 3:
			var batch []*webhook.Job
			for range 1 + rnd.IntN(4) {
				next++
				j := job(fmt.Sprintf("r%03d", next), fmt.Sprintf("rk%d", rnd.IntN(80)), now.Add(time.Duration(rnd.IntN(5)-2)*time.Minute))
				j.MessageID, j.UserID, j.CreatedAt = pick(messages), pick(users), now
				if rnd.IntN(4) == 0 {
					j.State = webhook.JobHeld
				}
				batch = append(batch, j)
			}
			res, err := s.Enqueue(t.Context(), webhook.EnqueueParams{Jobs: batch})
			must(t, "Enqueue", err)
			for i, j := range batch {
				if res.JobIDs[i] == j.ID {
					known = append(known, j.ID)
				}
			}
			call = fmt.Sprintf("Enqueue %d jobs, %d new", len(batch), len(known))
		case op < 5:
			owner := fmt.Sprintf("w%d", step)
			got := claimFor(t, s, now, owner, time.Duration(1+rnd.IntN(3))*time.Minute, 1+rnd.IntN(5)).Jobs
			for _, j := range got {
				leased[j.ID] = j
			}
			call = fmt.Sprintf("Claim by %s: %v", owner, ids(got))
		case op < 7:
			var items []webhook.Finished
			for _, id := range slices.Sorted(func(yield func(string) bool) {
				for id := range leased {
					if rnd.IntN(2) == 0 && !yield(id) {
						return
					}
				}
			}) {
				j := *leased[id]
				j.State, j.Attempts, j.DueAt = notRunning[rnd.IntN(len(notRunning))], j.Attempts+1, now.Add(time.Minute)
				items = append(items, webhook.Finished{Job: &j})
				if rnd.IntN(3) > 0 {
					delete(leased, id) // else finished again later, stale
				}
			}
			errs := finish(t, s, items...)
			var lost int
			for _, err := range errs {
				if errors.Is(err, webhook.ErrLeaseLost) {
					lost++
				} else {
					must(t, "Finish", err)
				}
			}
			call = fmt.Sprintf("Finish of %d jobs, %d leases lost", len(items), lost)
		case op < 8:
			p := webhook.UpdateJobsParams{From: someOf(notRunning), To: notRunning[rnd.IntN(len(notRunning))], Now: now}
			switch rnd.IntN(3) {
			case 0:
				p.Filter.IDs = someIDs()
			case 1:
				p.Filter.MessageID = pick(messages)
			default:
				p.Filter.UserID = pick(users)
			}
			if len(p.Filter.IDs) == 0 && p.Filter.MessageID == "" && p.Filter.UserID == "" {
				p.Filter.MessageID = "m1"
			}
			if p.To == webhook.JobScheduled && rnd.IntN(2) == 0 {
				p.DueAt = now
			}
			moved := updateJobs(t, s, p)
			call = fmt.Sprintf("UpdateJobs %+v: %v", p, ids(moved))
		case op < 9:
			p := webhook.ReplayJobsParams{Now: now, DryRun: rnd.IntN(3) == 0}
			if rnd.IntN(2) == 0 {
				p.Query.MessageID = pick(messages)
			}
			if rnd.IntN(2) == 0 {
				p.Query.States = someOf(ended)
			}
			if rnd.IntN(2) == 0 || (p.Query.MessageID == "" && len(p.Query.States) == 0) {
				p.IDs = someIDs()
				if len(p.IDs) == 0 {
					p.Query.MessageID = "m2"
				}
			}
			n, err := in.ReplayJobs(t.Context(), p)
			must(t, "ReplayJobs", err)
			call = fmt.Sprintf("ReplayJobs %+v: %d", p, n)
		default:
			d := time.Duration(rnd.IntN(150)) * time.Second
			now = now.Add(d)
			call = fmt.Sprintf("time passes %v", d)
		}
		log = append(log, call)
		if want, got := recount(t, s), countsOf(t, in); !cmp.Equal(want, got) {
			t.Fatalf("after these calls, CountJobs must count the jobs that Jobs returns (-want +got):\n%s\ncalls:\n%s",
				cmp.Diff(want, got), strings.Join(log[max(0, len(log)-10):], "\n"))
		}
		if qr == nil {
			continue
		}
		st := queueStats(t, qr, now)
		st.OldestDue = time.Time{}
		if want := recountQueue(t, s); st != want {
			t.Fatalf("after these calls, QueueStats = %+v, want %+v, as Jobs returns them\ncalls:\n%s",
				st, want, strings.Join(log[max(0, len(log)-10):], "\n"))
		}
	}
}

// recount returns the counts of the jobs that Jobs returns, as countsOf does.
func recount(t *testing.T, s webhook.Store) []string {
	t.Helper()
	by := map[string]map[webhook.JobState]int64{}
	for _, j := range jobs(t, s, webhook.JobQuery{}) {
		if by[j.MessageID] == nil {
			by[j.MessageID] = map[webhook.JobState]int64{}
		}
		by[j.MessageID][j.State]++
	}
	var out []string
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range by {
			if !yield(id) {
				return
			}
		}
	}) {
		line := id
		for _, st := range []webhook.JobState{webhook.JobScheduled, webhook.JobRunning, webhook.JobHeld, webhook.JobSucceeded,
			webhook.JobFailed, webhook.JobSkipped, webhook.JobCancelled} {
			if n := by[id][st]; n != 0 {
				line += fmt.Sprintf(" %s=%d", st, n)
			}
		}
		out = append(out, line)
	}
	return out
}

// recountQueue returns the counts of QueueStats of the jobs that Jobs returns, OldestDue
// left zero.
func recountQueue(t *testing.T, s webhook.Store) webhook.QueueStats {
	t.Helper()
	var st webhook.QueueStats
	for _, j := range jobs(t, s, webhook.JobQuery{}) {
		switch j.State {
		case webhook.JobScheduled:
			st.Scheduled++
		case webhook.JobRunning:
			st.Running++
		case webhook.JobHeld:
			st.Held++
		}
	}
	return st
}
