package memstore

import (
	"context"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// sent is a succeeded attempt in the per-user index CountSent reads.
type sent struct {
	at         time.Time
	messageID  string
	ignoreCaps bool
}

// CountSent implements [webhook.AttemptStore]: a binary search in the user's index finds the
// window, whose entries are then counted.
func (s *Store) CountSent(ctx context.Context, userID, messageID string, since time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	index := s.sent[userID]
	i, _ := slices.BinarySearchFunc(index, since, func(e sent, t time.Time) int { return e.at.Compare(t) })
	n := 0
	for _, e := range index[i:] {
		if messageID == "" && !e.ignoreCaps || messageID != "" && e.messageID == messageID {
			n++
		}
	}
	return n, nil
}

// indexSent adds a to the index CountSent reads if it succeeded. Attempts arrive in about the
// order of their times, so the insertion point is found from the end.
func (s *Store) indexSent(a *webhook.Attempt) {
	if a.Outcome != webhook.Succeeded {
		return
	}
	index := s.sent[a.UserID]
	i := len(index)
	for i > 0 && index[i-1].at.After(a.Time) {
		i--
	}
	s.sent[a.UserID] = slices.Insert(index, i, sent{a.Time, a.MessageID, a.IgnoreCaps})
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
		if r := s.jobs[id]; r.job.State == webhook.JobScheduled || r.job.State == webhook.JobRunning || r.job.State == webhook.JobHeld {
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
