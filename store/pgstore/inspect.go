package pgstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

var _ webhook.Inspector = (*Store)(nil)

// conds are the conditions of a query, joined by AND, with their arguments. Which fields a
// query sets, and its states and outcomes, are written into the statement, so that PostgreSQL
// plans each kind of query apart, by the index that serves it.
type conds struct {
	list []string
	args params
}

func (c *conds) add(cond string) { c.list = append(c.list, cond) }

func (c *conds) String() string {
	if len(c.list) == 0 {
		return "true"
	}
	return strings.Join(c.list, " AND ")
}

// literals returns the values of vs that known accepts as a sorted SQL list, such as
// "('failed', 'skipped')", or "" if none is known.
func literals[T ~string](vs []T, known func(T) bool) string {
	var out []string
	for _, v := range vs {
		if known(v) {
			out = append(out, `'`+string(v)+`'`)
		}
	}
	if len(out) == 0 {
		return ""
	}
	slices.Sort(out)
	return "(" + strings.Join(slices.Compact(out), ", ") + ")"
}

// badEnd reports whether st is one of the states of the partial indexes webhook_jobs_ended
// and webhook_jobs_message_ended.
func badEnd(st webhook.JobState) bool {
	return st == webhook.JobFailed || st == webhook.JobSkipped || st == webhook.JobCancelled
}

// jobConds adds the conditions of the jobs q selects to c, on the columns of webhook_jobs j,
// or of webhook_job_list l for those it has if list; it returns false if q selects no job.
func jobConds(c *conds, q *webhook.JobsQuery, list bool) bool {
	k := "j."
	if list {
		k = "l."
	}
	if q.MessageID != "" {
		c.add(k + `message_id = ` + c.args.add(q.MessageID))
	}
	if q.UserID != "" {
		c.add(k + `user_id = ` + c.args.add(q.UserID))
	}
	if len(q.States) > 0 {
		states := literals(q.States, webhook.JobState.Valid)
		if states == "" {
			return false
		}
		c.add(`j.state IN ` + states)
	}
	if !q.CreatedSince.IsZero() {
		c.add(k + `created_at >= ` + c.args.add(ceilMicro(q.CreatedSince)))
	}
	if !q.CreatedBefore.IsZero() {
		c.add(k + `created_at < ` + c.args.add(ceilMicro(q.CreatedBefore)))
	}
	if !q.DueSince.IsZero() {
		c.add(`j.due_at >= ` + c.args.add(ceilMicro(q.DueSince)))
	}
	if !q.DueBefore.IsZero() {
		c.add(`j.due_at < ` + c.args.add(ceilMicro(q.DueBefore)))
	}
	return true
}

// qualifiedJobColumns are jobColumns of webhook_jobs j.
var qualifiedJobColumns = "j." + strings.Join(strings.Split(strings.ReplaceAll(jobColumns, "\n\t", " "), ", "), ", j.")

// FindJobs implements [webhook.Inspector] with one query. The jobs of states that ended
// badly (failed, skipped, cancelled) are read from their partial indexes on webhook_jobs, by
// state or by message and state; the others from webhook_job_list, all of them, a message's
// or a user's, newest first, each job's row read by its primary key until the page is full.
func (s *Store) FindJobs(ctx context.Context, p webhook.FindJobsParams) ([]*webhook.Job, error) {
	q := &p.Query
	list := len(q.States) == 0 || slices.ContainsFunc(q.States, func(st webhook.JobState) bool { return !badEnd(st) })
	var c conds
	if !jobConds(&c, q, list) {
		return []*webhook.Job{}, nil
	}
	from, k := `webhook_jobs j`, "j."
	if list {
		from, k = `webhook_job_list l JOIN webhook_jobs j ON j.id = l.id`, "l."
	}
	if p.AfterID != "" {
		c.add(`(` + k + `created_at, ` + k + `id) < (` + c.args.add(p.AfterCreatedAt) + `, ` + c.args.add(p.AfterID) + `)`)
	}
	sql := `SELECT ` + qualifiedJobColumns + ` FROM ` + from + ` WHERE ` + c.String() +
		` ORDER BY ` + k + `created_at DESC, ` + k + `id DESC`
	if p.Limit > 0 {
		sql += ` LIMIT ` + c.args.add(p.Limit)
	}
	rows, err := s.db.Query(ctx, sql, c.args...)
	if err != nil {
		return nil, wrap("find jobs", err)
	}
	jobs, err := collect(rows, scanJob)
	return jobs, wrap("find jobs", err)
}

// FindAttempts implements [webhook.Inspector], as readLog reads the log: by the index of
// the filter's job, message, user, variant or outcome, or of time, newest first.
func (s *Store) FindAttempts(ctx context.Context, p webhook.FindAttemptsParams) ([]webhook.Attempt, error) {
	q := &p.Query
	f, ok := newLogFilter(q.JobID, q.MessageID, q.UserID, q.Variant, q.Outcomes)
	if !ok {
		return []webhook.Attempt{}, nil
	}
	f.statusClass(q.StatusClass)
	f.since(q.Since)
	f.until(q.Until)
	f.after(p.AfterTime, p.AfterSeq)
	as, err := s.readLog(ctx, f, attemptColumns, scanAttempt, p.Limit)
	return as, wrap("find attempts", err)
}

// CountJobs implements [webhook.Inspector] from webhook_job_counts, which the statements that
// move jobs and the triggers of webhook_jobs keep (see countMovesSQL).
func (s *Store) CountJobs(ctx context.Context, p webhook.CountJobsParams) ([]webhook.MessageCounts, error) {
	var c conds
	c.add(`n <> 0`)
	if len(p.MessageIDs) > 0 {
		c.add(`message_id = ANY (` + c.args.add(p.MessageIDs) + `)`)
	}
	rows, err := s.db.Query(ctx, `SELECT message_id, state, n FROM webhook_job_counts WHERE `+c.String()+
		` ORDER BY message_id`, c.args...)
	if err != nil {
		return nil, wrap("count jobs", err)
	}
	var out []webhook.MessageCounts
	var id string
	var st webhook.JobState
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&id, &st, &n}, func() error {
		if len(out) == 0 || out[len(out)-1].MessageID != id {
			out = append(out, webhook.MessageCounts{MessageID: id, States: map[webhook.JobState]int64{}})
		}
		out[len(out)-1].States[st] = n
		return nil
	})
	return out, wrap("count jobs", err)
}

// CountHosts implements [webhook.Inspector] from webhook_attempts' index on time, which
// includes each attempt's host and outcome, and the rows of webhook_successes whose latest
// attempt is at or after the time, read by their index on it.
func (s *Store) CountHosts(ctx context.Context, p webhook.CountHostsParams) ([]webhook.HostStats, error) {
	rows, err := s.db.Query(ctx, `SELECT host, count(*), count(*) FILTER (WHERE outcome = 'succeeded'), max(time)
		FROM (SELECT host, outcome, time FROM webhook_attempts WHERE time >= $1 AND host <> ''
			UNION ALL
			SELECT host, outcome, time FROM (`+successesSQL("webhook_successes", "s.last_time >= $1", map[string]bool{"host": true, "outcome": true})+`) AS x
			WHERE time >= $1 AND host <> '') AS log
		GROUP BY host ORDER BY host COLLATE "C"`, ceilMicro(p.Since))
	if err != nil {
		return nil, wrap("count hosts", err)
	}
	hs, err := collect(rows, func(row pgx.Row) (webhook.HostStats, error) {
		var h webhook.HostStats
		var last time.Time
		err := row.Scan(&h.Host, &h.Attempts, &h.Succeeded, &last)
		h.LastAttempt = last
		return h, err
	})
	return hs, wrap("count hosts", err)
}

// ReplayJobs implements [webhook.Inspector] with one statement, which locks the ended jobs
// that p selects (in ID order, as UpdateJobs does: see moveSQL), moves them and counts the
// moves: a concurrent replay of the same job waits for the row, then finds it scheduled and
// leaves it. Listeners are notified on commit, as the jobs are due.
func (s *Store) ReplayJobs(ctx context.Context, p webhook.ReplayJobsParams) (int, error) {
	const op = "replay jobs"
	if err := p.Check(); err != nil {
		return 0, invalid(op, "%v", err)
	}
	var c conds
	if !jobConds(&c, &p.Query, false) {
		return 0, nil
	}
	c.add(`j.state IN ('cancelled', 'failed', 'skipped', 'succeeded')`)
	if len(p.IDs) > 0 {
		c.add(`j.id = ANY (` + c.args.add(p.IDs) + `)`)
	}
	var n int
	if p.DryRun {
		err := s.db.QueryRow(ctx, `SELECT count(*) FROM webhook_jobs j WHERE `+c.String(), c.args...).Scan(&n)
		return n, wrap(op, err)
	}
	sql := moveSQL(c.String(), `state = 'scheduled', due_at = `+c.args.add(p.Now)+`, replay_from = j.attempts + 1`,
		`j.message_id, j.state`) + ` SELECT count(*) FROM moved`
	err := s.batch(ctx, "", []stmt{{sql, c.args}, {sql: notifySQL}}, func(i int, rows pgx.Rows) error {
		defer rows.Close()
		if i == 0 && rows.Next() {
			if err := rows.Scan(&n); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return n, wrap(op, err)
}
