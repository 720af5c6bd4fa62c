package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/hookline/webhook"
)

// pendingSQL sums the counts of scheduled, running and held jobs kept by message (see
// counts): no job is read.
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

// counts are changes to the counts of jobs by message and state of webhook_job_counts.
// Enqueue, Claim, Finish, UpdateJobs and ReplayJobs, which save and move jobs, save their
// changes with one statement per call, in the same transaction; a trigger of webhook_jobs
// counts the jobs deleted.
type counts map[[2]string]int64

// add adds n to the count of message's jobs in state.
func (c *counts) add(message string, state webhook.JobState, n int64) {
	if *c == nil {
		*c = counts{}
	}
	(*c)[[2]string{message, string(state)}] += n
}

// move counts a job of message moved from one state to another.
func (c *counts) move(message string, from, to webhook.JobState) {
	if from != to {
		c.add(message, from, -1)
		c.add(message, to, 1)
	}
}

// countRow is a row of the statement that saves counts.
const countRow = `(?, ?, ?)`

// saveCounts adds c to webhook_job_counts in tx, in a few statements, in key order so that
// writers take the rows in the same order.
func (s *Store) saveCounts(ctx context.Context, tx *sql.Tx, c counts) error {
	var rows [][]any
	for _, k := range slices.SortedFunc(maps.Keys(c), func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	}) {
		if n := c[k]; n != 0 {
			rows = append(rows, []any{k[0], k[1], n})
		}
	}
	return chunks(len(rows), maxChunk, func(start, size int) error {
		_, err := s.stmt(ctx, tx, `INSERT INTO webhook_job_counts (message_id, state, n) VALUES `+rowsOf(size, countRow)+
			` ON CONFLICT DO UPDATE SET n = n + excluded.n`).ExecContext(ctx, slices.Concat(rows[start:start+size]...)...)
		return err
	})
}
