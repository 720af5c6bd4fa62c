package memstore

import (
	"context"
	"slices"

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
	s.states.add(j.State, d)
	c := s.counts[j.MessageID]
	if c == nil {
		c = new(stateCounts)
		s.counts[j.MessageID] = c
	}
	c.add(j.State, d)
}

// stateCounts counts jobs by state: in an array for the states of [webhook.JobStates], which
// every job change counts twice, and in a map for any other state a caller gives a job.
type stateCounts struct {
	known [7]int64 // by the state's index in jobStates
	other map[webhook.JobState]int64
}

// jobStates are the states that stateCounts counts in its array, in its order.
var jobStates = webhook.JobStates()

// stateIndex returns the index of st in stateCounts.known, or -1 if it has none.
func stateIndex(st webhook.JobState) int {
	return slices.Index(jobStates, st)
}

// add adds d to the count of st.
func (c *stateCounts) add(st webhook.JobState, d int64) {
	if i := stateIndex(st); i >= 0 {
		c.known[i] += d
		return
	}
	if c.other == nil {
		c.other = map[webhook.JobState]int64{}
	}
	c.other[st] += d
}

// get returns the count of st.
func (c *stateCounts) get(st webhook.JobState) int64 {
	if i := stateIndex(st); i >= 0 {
		return c.known[i]
	}
	return c.other[st]
}

// positive returns the states with a count above zero, and their counts.
func (c *stateCounts) positive() map[webhook.JobState]int64 {
	out := map[webhook.JobState]int64{}
	for i, n := range c.known {
		if n > 0 {
			out[jobStates[i]] = n
		}
	}
	for st, n := range c.other {
		if n > 0 {
			out[st] = n
		}
	}
	return out
}

// QueueStats implements [webhook.QueueReader] from counts kept as jobs change state and the
// head of the queue.
func (s *Store) QueueStats(ctx context.Context, p webhook.QueueStatsParams) (webhook.QueueStats, error) {
	if err := s.lock(ctx); err != nil {
		return webhook.QueueStats{}, err
	}
	defer s.mu.Unlock()
	st := webhook.QueueStats{
		Scheduled: s.states.get(webhook.JobScheduled),
		Running:   s.states.get(webhook.JobRunning),
		Held:      s.states.get(webhook.JobHeld),
	}
	if s.head() != nil && !s.queue[0].at.After(p.Now) {
		st.OldestDue = s.queue[0].at
	}
	return st, nil
}
