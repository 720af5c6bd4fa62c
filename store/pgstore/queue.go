package pgstore

import (
	"context"
	"time"

	"github.com/hookline/webhook"
)

var _ webhook.QueueReader = (*Store)(nil)

// QueueStats implements [webhook.QueueReader], in one statement: the pending jobs are the sums
// over messages of the counts of webhook_job_counts (see CountJobs), and the one due the
// longest is the first of the index of ready times.
func (s *Store) QueueStats(ctx context.Context, p webhook.QueueStatsParams) (webhook.QueueStats, error) {
	var st webhook.QueueStats
	var oldest *time.Time
	err := s.db.QueryRow(ctx, `SELECT
		coalesce(sum(n) FILTER (WHERE state = 'scheduled'), 0),
		coalesce(sum(n) FILTER (WHERE state = 'running'), 0),
		coalesce(sum(n) FILTER (WHERE state = 'held'), 0),
		(SELECT min(ready_at) FROM webhook_jobs WHERE ready_at IS NOT NULL AND ready_at <= $1)
		FROM webhook_job_counts WHERE state IN ('scheduled', 'running', 'held')`, p.Now).
		Scan(&st.Scheduled, &st.Running, &st.Held, &oldest)
	if err != nil {
		return st, wrap("queue stats", err)
	}
	st.OldestDue = timeOrZero(oldest)
	return st, nil
}
