package sqlitestore

import (
	"context"
	"database/sql"
	"math"

	"github.com/hookline/webhook"
)

// pendingSQL sums the counts of scheduled, running and held jobs that triggers keep by
// message (see CountJobs): no job is read.
const pendingSQL = `SELECT state, sum(n) FROM webhook_job_counts
	WHERE state IN ('scheduled', 'running', 'held') GROUP BY state`

// QueueStats implements [webhook.QueueReader] with two reads: the pending jobs by state (the
// counts by message, summed), and the first ready_at (a scheduled job's DueAt, a running
// job's lease expiry).
func (s *Store) QueueStats(ctx context.Context, p webhook.QueueStatsParams) (webhook.QueueStats, error) {
	var st webhook.QueueStats
	rows, err := s.read(ctx, pendingSQL)
	if err != nil {
		return st, wrap("queue stats", err)
	}
	_, err = collect(nil, rows, func(sc scanner) (struct{}, error) {
		var state webhook.JobState
		var n int64
		err := sc.Scan(&state, &n)
		switch state {
		case webhook.JobScheduled:
			st.Scheduled = n
		case webhook.JobRunning:
			st.Running = n
		case webhook.JobHeld:
			st.Held = n
		}
		return struct{}{}, err
	})
	if err != nil {
		return st, wrap("queue stats", err)
	}
	var first sql.NullInt64
	if err := s.readValues(ctx, nextReadySQL, nil, &first); err != nil {
		return st, wrap("queue stats", err)
	}
	if first.Valid && first.Int64 <= bound(p.Now, math.MinInt64) {
		st.OldestDue = fromNanos(first)
	}
	return st, nil
}
