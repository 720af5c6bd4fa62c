package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"slices"

	"github.com/hookline/webhook"
)

// jobsWhere returns the conditions of the jobs q selects.
func jobsWhere(q *webhook.JobsQuery) *where {
	w := &where{}
	if q.MessageID != "" {
		w.add(`message_id = ?`, q.MessageID)
	}
	if q.UserID != "" {
		w.add(`user_id = ?`, q.UserID)
	}
	if len(q.States) > 0 {
		list, states := inList(q.States)
		w.add(`state IN `+list, states...)
	}
	// A NULL time is the zero time, before every other.
	if !q.CreatedSince.IsZero() {
		w.add(`created_at >= ?`, instant(q.CreatedSince))
	}
	if !q.CreatedBefore.IsZero() {
		w.add(`(created_at IS NULL OR created_at < ?)`, instant(q.CreatedBefore))
	}
	if !q.DueSince.IsZero() {
		w.add(`due_at >= ?`, instant(q.DueSince))
	}
	if !q.DueBefore.IsZero() {
		w.add(`(due_at IS NULL OR due_at < ?)`, instant(q.DueBefore))
	}
	return w
}

// findJobsSQL returns the query of FindJobs and its arguments.
func findJobsSQL(p *webhook.FindJobsParams) (string, []any) {
	w := jobsWhere(&p.Query)
	switch {
	case p.AfterID == "":
	case p.AfterCreatedAt.IsZero():
		w.add(`created_at IS NULL AND id < ?`, p.AfterID)
	default:
		w.add(`(created_at IS NULL OR (created_at, id) < (?, ?))`, instant(p.AfterCreatedAt), p.AfterID)
	}
	return `SELECT ` + jobColumns + ` FROM webhook_jobs WHERE ` + w.String() +
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(w.args, limitArg(p.Limit))
}

// FindJobs implements [webhook.Inspector] with one query, which reads the index of
// (created_at, id) of all jobs, of a message's or of a user's, newest first, skipping the
// jobs that the other conditions leave out: no index holds the state, which every move of a
// job would write.
func (s *Store) FindJobs(ctx context.Context, p webhook.FindJobsParams) ([]*webhook.Job, error) {
	query, args := findJobsSQL(&p)
	rows, err := s.read(ctx, query, args...)
	if err != nil {
		return nil, wrap("find jobs", err)
	}
	jobs, err := collect(nil, rows, scanJob)
	return jobs, wrap("find jobs", err)
}

// findAttemptsSQL returns the query of FindAttempts and its arguments.
func findAttemptsSQL(p *webhook.FindAttemptsParams) (string, []any) {
	q := &p.Query
	w := attemptsWhere(&webhook.AttemptQuery{
		JobID: q.JobID, MessageID: q.MessageID, UserID: q.UserID, Variant: q.Variant, Outcomes: q.Outcomes, Since: q.Since,
	})
	switch c := q.StatusClass; {
	case c == -1:
		w.add(`status = 0`)
	case c != 0:
		w.add(`status >= ? AND status < ?`, c*100, c*100+100)
	}
	if !q.Until.IsZero() {
		w.add(`time < ?`, instant(q.Until))
	}
	if p.AfterSeq != 0 {
		w.add(`(time, seq) < (?, ?)`, instant(p.AfterTime), p.AfterSeq)
	}
	return `SELECT seq, data FROM webhook_attempts WHERE ` + w.String() +
		` ORDER BY time DESC, seq DESC LIMIT ?`, append(w.args, limitArg(p.Limit))
}

// FindAttempts implements [webhook.Inspector] with one query, which reads the index of the
// filter's job, message, user, variant or outcome, or of time, newest first.
func (s *Store) FindAttempts(ctx context.Context, p webhook.FindAttemptsParams) ([]webhook.Attempt, error) {
	query, args := findAttemptsSQL(&p)
	rows, err := s.read(ctx, query, args...)
	if err != nil {
		return nil, wrap("find attempts", err)
	}
	as, err := collect(nil, rows, func(sc scanner) (webhook.Attempt, error) {
		var seq int64
		var data []byte
		if err := sc.Scan(&seq, &data); err != nil {
			return webhook.Attempt{}, err
		}
		var a webhook.Attempt
		err := json.Unmarshal(data, &a)
		a.Seq = seq
		return a, err
	})
	return as, wrap("find attempts", err)
}

// countJobsSQL reads the counts of the messages of an IN list, or of all.
const countJobsSQL = `SELECT message_id, state, n FROM webhook_job_counts WHERE n != 0`

// CountJobs implements [webhook.Inspector] from webhook_job_counts, which the writes that
// save and move jobs keep (see counts).
func (s *Store) CountJobs(ctx context.Context, p webhook.CountJobsParams) ([]webhook.MessageCounts, error) {
	var out []webhook.MessageCounts
	read := func(query string, args []any) error {
		rows, err := s.read(ctx, query+` ORDER BY message_id`, args...)
		if err != nil {
			return err
		}
		_, err = collect(nil, rows, func(sc scanner) (struct{}, error) {
			var id string
			var st webhook.JobState
			var n int64
			if err := sc.Scan(&id, &st, &n); err != nil {
				return struct{}{}, err
			}
			if len(out) == 0 || out[len(out)-1].MessageID != id {
				out = append(out, webhook.MessageCounts{MessageID: id, States: map[webhook.JobState]int64{}})
			}
			out[len(out)-1].States[st] = n
			return struct{}{}, nil
		})
		return err
	}
	var err error
	if len(p.MessageIDs) == 0 {
		err = read(countJobsSQL, nil)
	} else {
		ids := slices.Compact(slices.Sorted(slices.Values(p.MessageIDs)))
		err = inLists(ids, func(list string, args []any) error { return read(countJobsSQL+` AND message_id IN `+list, args) })
	}
	return out, wrap("count jobs", err)
}

// countHostsSQL counts the attempts since ?1 by host, from the index webhook_attempts_time.
const countHostsSQL = `SELECT host, count(*), sum(outcome = 'succeeded'), max(time) FROM webhook_attempts
	WHERE time >= ?1 AND host != '' GROUP BY host ORDER BY host`

// CountHosts implements [webhook.Inspector].
func (s *Store) CountHosts(ctx context.Context, p webhook.CountHostsParams) ([]webhook.HostStats, error) {
	rows, err := s.read(ctx, countHostsSQL, instant(p.Since))
	if err != nil {
		return nil, wrap("count hosts", err)
	}
	hs, err := collect(nil, rows, func(sc scanner) (webhook.HostStats, error) {
		var h webhook.HostStats
		var last int64
		err := sc.Scan(&h.Host, &h.Attempts, &h.Succeeded, &last)
		h.LastAttempt = fromInstant(last)
		return h, err
	})
	return hs, wrap("count hosts", err)
}

// ReplayJobs implements [webhook.Inspector] with one UPDATE (one per IN list of p.IDs), in
// one write transaction: SQLite has one writer at a time, so two replays never move a job
// twice.
func (s *Store) ReplayJobs(ctx context.Context, p webhook.ReplayJobsParams) (int, error) {
	if err := p.Check(); err != nil {
		return 0, err
	}
	w := jobsWhere(&p.Query)
	// Each ID once: a dry run would count a job named in two IN lists twice.
	p.IDs = slices.Compact(slices.Sorted(slices.Values(p.IDs)))
	// One statement per state replayed, so that the moves are counted.
	run := func(f func(from webhook.JobState, where string, args []any) error) error {
		for _, from := range []webhook.JobState{webhook.JobCancelled, webhook.JobFailed, webhook.JobSkipped, webhook.JobSucceeded} {
			if len(p.Query.States) > 0 && !slices.Contains(p.Query.States, from) {
				continue
			}
			ws := where{conds: slices.Clip(w.conds), args: slices.Clip(w.args)}
			ws.add(`state = ?`, from)
			err := ws.each(p.IDs, func(where string, args []any) error { return f(from, where, args) })
			if err != nil {
				return err
			}
		}
		return nil
	}
	n := 0
	if p.DryRun {
		err := run(func(_ webhook.JobState, where string, args []any) error {
			var c int
			err := s.readValues(ctx, `SELECT count(*) FROM webhook_jobs WHERE `+where, args, &c)
			n += c
			return err
		})
		return n, wrap("replay jobs", err)
	}
	due := bound(p.Now, math.MinInt64)
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		var moves counts
		err := run(func(from webhook.JobState, where string, args []any) error {
			rows, err := s.stmt(ctx, tx, `UPDATE webhook_jobs SET state = 'scheduled', due_at = ?, ready_at = ?, replay_from = attempts + 1 WHERE `+where+
				` RETURNING message_id`).QueryContext(ctx, append([]any{nanos(p.Now), due}, args...)...)
			if err != nil {
				return err
			}
			messages, err := collect(nil, rows, scanString)
			for _, m := range messages {
				moves.move(m, from, webhook.JobScheduled)
			}
			n += len(messages)
			return err
		})
		if err == nil {
			err = s.saveCounts(ctx, tx, moves)
		}
		return err
	})
	return n, wrap("replay jobs", err)
}
