package sqlitestore

import (
	"context"
	"database/sql"
	"math"

	"github.com/hookline/webhook"
)

// pendingSQL counts the scheduled and running jobs from the partial index webhook_jobs_ready,
// whose WHERE clause it repeats, and reads the number of held jobs that triggers keep: ended
// jobs are not read.
const pendingSQL = `SELECT state, count(*) FROM webhook_jobs WHERE ready_at IS NOT NULL GROUP BY state
	UNION ALL SELECT 'held', n FROM webhook_held_jobs`

// QueueStats implements [webhook.QueueReader] with two reads: the pending jobs by state (an
// index and a count), and the first ready_at (a scheduled job's DueAt, a running job's lease
// expiry).
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
