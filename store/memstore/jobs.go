package memstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// record is a job with the generation of its latest queue entry; older entries are stale.
type record struct {
	job webhook.Job
	gen uint64
}

// Enqueue implements [webhook.JobStore]: the events and jobs are saved together.
func (s *Store) Enqueue(ctx context.Context, p webhook.EnqueueParams) (webhook.EnqueueResult, error) {
	var res webhook.EnqueueResult
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	for _, e := range p.Events {
		s.addEvent(e)
	}
	res.JobIDs = make([]string, len(p.Jobs))
	for i, j := range p.Jobs {
		if id, dup := s.keys[j.Key]; dup {
			res.JobIDs[i] = id
			continue
		}
		s.keys[j.Key] = j.ID
		res.JobIDs[i] = j.ID
		r := &record{job: *j}
		if r.job.State != webhook.JobHeld {
			r.job.State = webhook.JobScheduled
		}
		s.count(&r.job, 1)
		s.jobs[j.ID] = r
		s.indexUnless(r)
		if r.job.State == webhook.JobScheduled {
			s.schedule(r, j.DueAt)
		}
	}
	return res, nil
}

// schedule makes r's queue entry the one due at at, making any older entry stale.
func (s *Store) schedule(r *record, at time.Time) {
	r.gen++
	s.queue.push(entry{at: at, id: idKey(r.job.ID), gen: r.gen, r: r})
}

// Claim implements [webhook.JobStore].
func (s *Store) Claim(ctx context.Context, p webhook.ClaimParams) (webhook.ClaimResult, error) {
	var res webhook.ClaimResult
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	for len(res.Jobs) < p.Limit {
		r := s.head()
		if r == nil {
			break
		}
		if at := s.queue[0].at; at.After(p.Now) {
			res.NextDue = at // the first job not claimed
			break
		}
		s.queue.pop()
		s.setState(r, webhook.JobRunning)
		r.job.LeaseOwner = p.Owner
		r.job.LeaseExpiresAt = p.Now.Add(p.Lease)
		c := r.job
		res.Jobs = append(res.Jobs, &c)
	}
	// The leases just given are queued after NextDue is known: they are not jobs that this
	// claim did not claim.
	for _, j := range res.Jobs {
		s.schedule(s.jobs[j.ID], j.LeaseExpiresAt)
	}
	return res, nil
}

// head drops stale entries from the front of the queue and returns the record of the first
// live one, or nil.
func (s *Store) head() *record {
	for len(s.queue) > 0 {
		if e := &s.queue[0]; e.r.gen == e.gen {
			return e.r
		}
		s.queue.pop()
	}
	return nil
}

// Finish implements [webhook.JobStore].
func (s *Store) Finish(ctx context.Context, p webhook.FinishParams) ([]error, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	errs := make([]error, len(p.Jobs))
	for i, f := range p.Jobs {
		if f.Attempt != nil {
			s.addAttempt(*f.Attempt)
			if f.User != nil {
				s.putUser(f.User, f.Attempt.Time)
			}
		}
		j := f.Job
		r := s.jobs[j.ID]
		switch {
		case r == nil:
			errs[i] = webhook.ErrNotFound
			continue
		case r.job.State != webhook.JobRunning || r.job.LeaseOwner != j.LeaseOwner:
			errs[i] = webhook.ErrLeaseLost
			continue
		}
		s.setState(r, j.State)
		r.job.Attempts, r.job.DueAt, r.job.Request = j.Attempts, j.DueAt, j.Request
		r.job.LeaseOwner, r.job.LeaseExpiresAt = "", time.Time{}
		if r.job.State == webhook.JobScheduled {
			s.schedule(r, r.job.DueAt)
		} else {
			r.gen++ // no longer queued
		}
	}
	return errs, nil
}

// UpdateJobs implements [webhook.JobStore].
func (s *Store) UpdateJobs(ctx context.Context, p webhook.UpdateJobsParams) ([]*webhook.Job, error) {
	if len(p.Filter.IDs) == 0 && p.Filter.MessageID == "" && p.Filter.UserID == "" {
		return nil, fmt.Errorf("%w: memstore: update jobs needs job IDs, a message or a user", webhook.ErrInvalid)
	}
	if slices.Contains(p.From, webhook.JobRunning) || p.To == webhook.JobRunning {
		return nil, fmt.Errorf("%w: memstore: update jobs cannot move running jobs", webhook.ErrInvalid)
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*webhook.Job
	for r := range s.candidates(&p.Filter, p.From) {
		if !slices.Contains(p.From, r.job.State) || !p.Filter.Match(&r.job) {
			continue
		}
		s.setState(r, p.To)
		s.indexUnless(r)
		switch p.To {
		case webhook.JobScheduled:
			if !p.DueAt.IsZero() {
				r.job.DueAt = p.DueAt
			}
			s.schedule(r, r.job.DueAt)
		case webhook.JobCancelled:
			r.job.Request = nil
			s.addAttempt(webhook.Attempt{
				JobID: r.job.ID, MessageID: r.job.MessageID, MessageVersion: r.job.MessageVersion,
				UserID: r.job.UserID, Variant: r.job.Variant, Number: r.job.Attempts + 1, Time: p.Now,
				Outcome: webhook.Cancelled, Err: p.Reason,
			})
			r.gen++ // no longer queued
		default:
			r.gen++ // no longer queued
		}
		c := r.job
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *webhook.Job) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// indexUnless adds r to its user's index of jobs with an Unless event, if it has one and has
// not ended. The caller holds s.mu.
func (s *Store) indexUnless(r *record) {
	if r.job.Unless == "" || r.job.State.Ended() {
		return
	}
	index := s.unless[r.job.UserID]
	if index == nil {
		index = map[string]bool{}
		s.unless[r.job.UserID] = index
	}
	index[r.job.ID] = true
}

// candidates returns the jobs that a query for f of jobs in one of states (any state if
// empty) must look at: those named, each once; or, for a user's Unless event and states
// that are not ends, only the user's jobs in the index of those with an Unless event
// (dropping the ones that ended from it); or else all.
func (s *Store) candidates(f *webhook.JobFilter, states []webhook.JobState) iter.Seq[*record] {
	switch {
	case len(f.IDs) > 0:
		return func(yield func(*record) bool) {
			for _, id := range slices.Compact(slices.Sorted(slices.Values(f.IDs))) {
				if r := s.jobs[id]; r != nil && !yield(r) {
					return
				}
			}
		}
	case f.UserID == "" || f.Unless == "" || len(states) == 0 ||
		slices.ContainsFunc(states, webhook.JobState.Ended):
		return maps.Values(s.jobs)
	}
	var live []*record
	index := s.unless[f.UserID]
	for id := range index {
		if r := s.jobs[id]; r.job.State.Ended() {
			delete(index, id)
		} else {
			live = append(live, r)
		}
	}
	if len(index) == 0 {
		delete(s.unless, f.UserID)
	}
	return slices.Values(live)
}

// Jobs implements [webhook.JobStore].
func (s *Store) Jobs(ctx context.Context, q webhook.JobQuery) ([]*webhook.Job, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*webhook.Job
	for r := range s.candidates(&q.JobFilter, q.States) {
		if r.job.ID > q.After && q.Match(&r.job) {
			c := r.job
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *webhook.Job) int { return cmp.Compare(a.ID, b.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// entry is a job's place in the queue: its record (jobs are never deleted), whose job's ID,
// which never changes, orders entries due at the same time. id holds the ID's first bytes
// (see idKey), so that the heap compares most entries without reading their records.
type entry struct {
	at  time.Time
	id  [2]uint64
	gen uint64
	r   *record
}

// idKey returns the first 16 bytes of id, zero-padded, as two big-endian integers: they
// order two IDs as the IDs order, unless they are equal. A campaign's jobs are due at the
// same time, so a heap of them compares by ID, and reading each ID through its record
// cost memstore's claims more than all else they did.
func idKey(id string) [2]uint64 {
	var b [16]byte
	copy(b[:], id)
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// queue is a min-heap of entries by time, then job ID. Its methods are container/heap's
// algorithms on entries themselves, which container/heap would box into interfaces: one
// allocation for every push and every pop.
type queue []entry

// less reports whether the entry at i comes before the one at j.
func (q queue) less(i, j int) bool {
	a, b := &q[i], &q[j]
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	if a.id != b.id {
		return a.id[0] < b.id[0] || a.id[0] == b.id[0] && a.id[1] < b.id[1]
	}
	return a.r.job.ID < b.r.job.ID
}

// push adds e to q.
func (q *queue) push(e entry) {
	*q = append(*q, e)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

// pop removes the first entry of q, which is not empty.
func (q *queue) pop() {
	h := *q
	n := len(h) - 1
	h[0], h[n] = h[n], entry{}
	h = h[:n]
	*q = h
	for i := 0; ; {
		next := 2*i + 1
		if next >= n {
			break
		}
		if right := next + 1; right < n && h.less(right, next) {
			next = right
		}
		if !h.less(next, i) {
			break
		}
		h[i], h[next] = h[next], h[i]
		i = next
	}
}
