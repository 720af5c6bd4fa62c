package memstore

import (
	"context"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// CountSent implements [webhook.AttemptStore] with a binary search in a per-user index.
func (s *Store) CountSent(ctx context.Context, userID string, since time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	times := s.sent[userID]
	i, _ := slices.BinarySearchFunc(times, since, time.Time.Compare)
	return len(times) - i, nil
}

// indexSent adds a to the index CountSent reads if it counts toward caps. Attempts arrive in
// about the order of their times, so the insertion point is found from the end.
func (s *Store) indexSent(a *webhook.Attempt) {
	if a.Outcome != webhook.Succeeded || a.IgnoreCaps {
		return
	}
	times := s.sent[a.UserID]
	i := len(times)
	for i > 0 && times[i-1].After(a.Time) {
		i--
	}
	s.sent[a.UserID] = slices.Insert(times, i, a.Time)
}

// indexUnless adds j to its user's index of jobs that an event can cancel, if it has one.
func (s *Store) indexUnless(j *webhook.Job) {
	if j.Unless != "" {
		s.unless[j.UserID] = append(s.unless[j.UserID], j.ID)
	}
}

// cancelCandidates returns the jobs Cancel must look at for f: for a user's Unless event only
// the user's jobs that have one (dropping those that are over from the index), else all.
func (s *Store) cancelCandidates(f webhook.JobFilter) iter.Seq[*record] {
	if f.UserID == "" || f.Unless == "" {
		return maps.Values(s.jobs)
	}
	var live []*record
	ids := s.unless[f.UserID][:0]
	for _, id := range s.unless[f.UserID] {
		if r := s.jobs[id]; r.job.State == webhook.JobScheduled || r.job.State == webhook.JobRunning {
			live = append(live, r)
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		delete(s.unless, f.UserID)
	} else {
		s.unless[f.UserID] = ids
	}
	return slices.Values(live)
}
