package memstore

import (
	"context"

	"github.com/hookline/webhook"
)

// setState moves r to state, counting the jobs in each state, in all and by message, for
// QueueStats and CountJobs. The caller holds s.mu.
func (s *Store) setState(r *record, state webhook.JobState) {
	s.count(&r.job, -1)
	r.job.State = state
	s.count(&r.job, 1)
}

// count adds d to the counts of j's state. The caller holds s.mu.
func (s *Store) count(j *webhook.Job, d int64) {
	s.states[j.State] += d
	c := s.counts[j.MessageID]
	if c == nil {
		c = map[webhook.JobState]int64{}
		s.counts[j.MessageID] = c
	}
	c[j.State] += d
}

// QueueStats implements [webhook.QueueReader] from counts kept as jobs change state and the
// head of the queue.
func (s *Store) QueueStats(ctx context.Context, p webhook.QueueStatsParams) (webhook.QueueStats, error) {
	if err := s.lock(ctx); err != nil {
		return webhook.QueueStats{}, err
	}
	defer s.mu.Unlock()
	st := webhook.QueueStats{
		Scheduled: s.states[webhook.JobScheduled],
		Running:   s.states[webhook.JobRunning],
		Held:      s.states[webhook.JobHeld],
	}
	if s.head() != nil && !s.queue[0].at.After(p.Now) {
		st.OldestDue = s.queue[0].at
	}
	return st, nil
}
