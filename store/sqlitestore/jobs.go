package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hookline/webhook"
)

// jobColumns are the columns scanJob reads, in order.
const jobColumns = `id, key, message_id, message_version, user_id, event, params, state, attempts,
	created_at, due_at, lease_owner, lease_expires_at, request, unless_event, trace, variant, replay_from`

// scanJob reads the jobColumns of one row.
func scanJob(sc scanner) (*webhook.Job, error) {
	var (
		j                             webhook.Job
		event, params, owner, request sql.NullString
		trace                         sql.NullString
		created, due, expires         sql.NullInt64
	)
	err := sc.Scan(&j.ID, &j.Key, &j.MessageID, &j.MessageVersion, &j.UserID, &event, &params, &j.State,
		&j.Attempts, &created, &due, &owner, &expires, &request, &j.Unless, &trace, &j.Variant, &j.ReplayFrom)
	if err != nil {
		return nil, err
	}
	j.CreatedAt, j.DueAt, j.LeaseExpiresAt = fromNanos(created), fromNanos(due), fromNanos(expires)
	j.LeaseOwner = owner.String
	for _, u := range []struct {
		s sql.NullString
		v any
	}{{event, &j.Event}, {params, &j.Params}, {request, &j.Request}, {trace, &j.Trace}} {
		if err := unmarshalNull(u.s, u.v); err != nil {
			return nil, err
		}
	}
	return &j, nil
}

// readyAt is the ready_at of a job scheduled at due: a zero DueAt is due at once.
func readyAt(due sql.NullInt64) int64 {
	if !due.Valid {
		return math.MinInt64
	}
	return due.Int64
}

// enqueueSQL inserts jobs, with their rows of enqueueRow after it, but none whose key or ID
// is taken. (On OR IGNORE, see orIgnore.)
const (
	enqueueSQL = `INSERT OR IGNORE INTO webhook_jobs (id, key, message_id, message_version, user_id, event, params,
		state, attempts, created_at, due_at, request, unless_event, ready_at, trace, variant) VALUES `
	enqueueRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// Enqueue implements [webhook.JobStore]: one write saves the events and the jobs, with a
// few statements for any number of them. A job's ID is its own unless a statement saved
// fewer jobs than it was given: then the IDs of its keys are read back.
func (s *Store) Enqueue(ctx context.Context, p webhook.EnqueueParams) (webhook.EnqueueResult, error) {
	var res webhook.EnqueueResult
	if len(p.Events) == 0 && len(p.Jobs) == 0 {
		return res, ctx.Err()
	}
	rows := make([][]any, len(p.Jobs))
	for i, j := range p.Jobs {
		var err error
		if rows[i], err = enqueueArgs(j); err != nil {
			return res, fmt.Errorf("sqlitestore: enqueue job %q: %w", j.ID, err)
		}
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.insertEvents(ctx, tx, p.Events); err != nil {
			return err
		}
		var taken []string                 // the keys of the jobs of statements that did not save them all
		check := make([]bool, len(p.Jobs)) // the jobs whose keys are taken
		var saved counts
		err := chunks(len(rows), maxChunk, func(start, size int) error {
			n, err := s.insertJobs(ctx, tx, rows[start:start+size], &saved)
			if err != nil || n == size {
				return err
			}
			for i := start; i < start+size; i++ {
				taken, check[i] = append(taken, p.Jobs[i].Key), true
			}
			return nil
		})
		if err == nil {
			err = s.saveCounts(ctx, tx, saved)
		}
		if err != nil {
			return err
		}
		held := map[string]string{} // key → ID of the job saved under it, for the keys taken
		if len(taken) > 0 {
			err := inLists(taken, func(list string, args []any) error {
				r, err := s.stmt(ctx, tx, `SELECT key, id FROM webhook_jobs WHERE key IN `+list).QueryContext(ctx, args...)
				if err == nil {
					err = keysAndIDs(r, held)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		res.JobIDs = make([]string, len(p.Jobs))
		for i, j := range p.Jobs {
			id, ok := held[j.Key]
			switch {
			case !check[i]:
				id = j.ID
			case !ok: // the ID was taken, not the key
				return fmt.Errorf("job %q: a job with another key has its ID", j.ID)
			}
			res.JobIDs[i] = id
		}
		return nil
	})
	return res, wrap("enqueue", err)
}

// insertJobs inserts the jobs of rows, their enqueueArgs, at most maxChunk, with one
// statement, counts those it saved in c and returns how many it saved.
func (s *Store) insertJobs(ctx context.Context, tx *sql.Tx, rows [][]any, c *counts) (int, error) {
	r, err := s.stmt(ctx, tx, enqueueSQL+rowsOf(len(rows), enqueueRow)+` RETURNING message_id, state`).
		QueryContext(ctx, slices.Concat(rows...)...)
	if err != nil {
		return 0, err
	}
	n := 0
	_, err = collect(nil, r, func(sc scanner) (struct{}, error) {
		var message string
		var state webhook.JobState
		if err := sc.Scan(&message, &state); err != nil {
			return struct{}{}, err
		}
		c.add(message, state, 1)
		n++
		return struct{}{}, nil
	})
	return n, err
}

// enqueueArgs returns the arguments of j's row of enqueueSQL.
func enqueueArgs(j *webhook.Job) ([]any, error) {
	event, err := marshalNull(j.Event, j.Event == nil)
	if err != nil {
		return nil, err
	}
	params, err := marshalMap(j.Params)
	if err != nil {
		return nil, err
	}
	request, err := marshalNull(j.Request, j.Request == nil)
	if err != nil {
		return nil, err
	}
	trace, err := marshalNull(j.Trace, len(j.Trace) == 0)
	if err != nil {
		return nil, err
	}
	due := nanos(j.DueAt)
	state, ready := webhook.JobScheduled, sql.NullInt64{Int64: readyAt(due), Valid: true}
	if j.State == webhook.JobHeld {
		state, ready = webhook.JobHeld, sql.NullInt64{}
	}
	return []any{j.ID, j.Key, j.MessageID, j.MessageVersion, j.UserID, event, params, state,
		j.Attempts, nanos(j.CreatedAt), due, request, j.Unless, ready, trace, j.Variant}, nil
}

// keysAndIDs reads rows of a key and an ID into ids, by key, and closes rows.
func keysAndIDs(rows *sql.Rows, ids map[string]string) error {
	defer rows.Close()
	for rows.Next() {
		var key, id string
		if err := rows.Scan(&key, &id); err != nil {
			return err
		}
		ids[key] = id
	}
	return rows.Err()
}

// nextReadySQL selects when the first job is ready to be claimed, or NULL if none is.
const nextReadySQL = `SELECT min(ready_at) FROM webhook_jobs WHERE ready_at IS NOT NULL`

// readySQL selects the first ?1 jobs that are ready, due or not, in the order a claim takes
// them, with their states.
const readySQL = `SELECT id, ready_at, state FROM webhook_jobs WHERE ready_at IS NOT NULL ORDER BY ready_at, id LIMIT ?1`

// claimSQL leases the first ?2 jobs ready at ?1 to ?4 until ?5.
const claimSQL = `UPDATE OR IGNORE webhook_jobs SET state = ?3, lease_owner = ?4, lease_expires_at = ?5, ready_at = ?5
	WHERE id IN (SELECT id FROM webhook_jobs WHERE ready_at <= ?1 ORDER BY ready_at, id LIMIT ?2)
	RETURNING ` + jobColumns

// Claim implements [webhook.JobStore]. It leases a whole batch in one statement.
func (s *Store) Claim(ctx context.Context, p webhook.ClaimParams) (webhook.ClaimResult, error) {
	var res webhook.ClaimResult
	if p.Limit <= 0 {
		return res, nil
	}
	now := bound(p.Now, math.MinInt64)
	// Most claims of an idle or busy Sender find nothing due: learn that from a read, which
	// costs far less than a write transaction, and tells when the next job is due.
	var next sql.NullInt64
	if err := s.readValues(ctx, nextReadySQL, nil, &next); err != nil {
		return res, wrap("claim", err)
	}
	if !next.Valid || next.Int64 > now {
		res.NextDue = fromNanos(next)
		return res, nil
	}
	expires := bound(p.Now.Add(p.Lease), math.MinInt64)
	dueAt := map[string]int64{}     // when each job claimed was due: RETURNING gives the new ready_at
	wasRunning := map[string]bool{} // the jobs claimed whose lease had expired
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res = webhook.ClaimResult{}
		// The jobs to claim, and after them the first job not claimed, which is when the
		// next is due if fewer than p.Limit are claimed.
		rows, err := s.stmt(ctx, tx, readySQL).QueryContext(ctx, p.Limit+1)
		if err != nil {
			return err
		}
		clear(dueAt)
		clear(wasRunning)
		for rows.Next() {
			var id string
			var at int64
			var state webhook.JobState
			if err := rows.Scan(&id, &at, &state); err != nil {
				rows.Close()
				return err
			}
			if len(dueAt) == p.Limit {
				break
			}
			if at > now {
				res.NextDue = fromNanos(sql.NullInt64{Int64: at, Valid: true})
				break
			}
			dueAt[id] = at
			wasRunning[id] = state == webhook.JobRunning
		}
		if err := rows.Close(); err != nil {
			return err
		}
		rows, err = s.stmt(ctx, tx, claimSQL).QueryContext(ctx, now, p.Limit, webhook.JobRunning, p.Owner, expires)
		if err == nil {
			res.Jobs, err = collect(nil, rows, scanJob)
		}
		if err != nil {
			return err
		}
		var moves counts
		for _, j := range res.Jobs {
			if !wasRunning[j.ID] {
				moves.move(j.MessageID, webhook.JobScheduled, webhook.JobRunning)
			}
		}
		return s.saveCounts(ctx, tx, moves)
	})
	if err != nil {
		return webhook.ClaimResult{}, wrap("claim", err)
	}
	// RETURNING has no order.
	slices.SortFunc(res.Jobs, func(a, b *webhook.Job) int {
		return cmp.Or(cmp.Compare(dueAt[a.ID], dueAt[b.ID]), strings.Compare(a.ID, b.ID))
	})
	return res, nil
}

// finishSQL saves the outcomes of jobs, given as rows of finishRow after it and then
// finishEnd with JobRunning, and returns the ID of each job it saved: those leased to the
// owner given.
const (
	finishSQL = `WITH f (id, owner, state, attempts, due_at, request, ready_at) AS (VALUES `
	finishRow = `(?, ?, ?, ?, ?, ?, ?)`
	finishEnd = `) UPDATE OR IGNORE webhook_jobs SET state = f.state, attempts = f.attempts, due_at = f.due_at, request = f.request,
			lease_owner = NULL, lease_expires_at = NULL, ready_at = f.ready_at
		FROM f WHERE webhook_jobs.id = f.id AND webhook_jobs.state = ? AND webhook_jobs.lease_owner = f.owner
		RETURNING webhook_jobs.id, webhook_jobs.message_id, webhook_jobs.state`
)

// Finish implements [webhook.JobStore]: one write logs the attempts and saves the jobs, with
// a few statements for any number of them.
func (s *Store) Finish(ctx context.Context, p webhook.FinishParams) ([]error, error) {
	if len(p.Jobs) == 0 {
		return []error{}, ctx.Err()
	}
	var attempts []*webhook.Attempt
	var users []webhook.UserUpdate // the users to save with the attempts
	var usersAt []time.Time        // the Now of each of users
	var rows [][]any               // finishRow of each job, the first time it is given
	first := map[string]int{}      // job ID → the index of its first item
	for i, f := range p.Jobs {
		if f.Attempt != nil {
			attempts = append(attempts, f.Attempt)
			if f.User != nil {
				users, usersAt = append(users, *f.User), append(usersAt, f.Attempt.Time)
			}
		}
		j := f.Job
		if _, dup := first[j.ID]; dup {
			continue
		}
		first[j.ID] = i
		request, err := marshalNull(j.Request, j.Request == nil)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: finish job %q: %w", j.ID, err)
		}
		due := nanos(j.DueAt)
		var ready sql.NullInt64
		if j.State == webhook.JobScheduled {
			ready = sql.NullInt64{Int64: readyAt(due), Valid: true}
		}
		rows = append(rows, []any{j.ID, j.LeaseOwner, j.State, j.Attempts, due, request, ready})
	}
	logged, err := attemptRows(attempts)
	if err != nil {
		return nil, wrap("finish", err)
	}
	var errs []error
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.insertAttempts(ctx, tx, logged); err != nil {
			return err
		}
		if err := s.writeUsers(ctx, tx, users, func(i int) time.Time { return usersAt[i] }); err != nil {
			return err
		}
		saved := map[string]bool{}
		var moves counts
		err := chunks(len(rows), maxChunk, func(start, size int) error {
			args := append(slices.Concat(rows[start:start+size]...), webhook.JobRunning)
			r, err := s.stmt(ctx, tx, finishSQL+rowsOf(size, finishRow)+finishEnd).QueryContext(ctx, args...)
			if err != nil {
				return err
			}
			_, err = collect(nil, r, func(sc scanner) (struct{}, error) {
				var id, message string
				var state webhook.JobState
				err := sc.Scan(&id, &message, &state)
				saved[id] = true
				moves.move(message, webhook.JobRunning, state)
				return struct{}{}, err
			})
			return err
		})
		if err == nil {
			err = s.saveCounts(ctx, tx, moves)
		}
		if err != nil {
			return err
		}
		errs = make([]error, len(p.Jobs))
		var unsaved []string
		for i, f := range p.Jobs {
			if !saved[f.Job.ID] || first[f.Job.ID] != i {
				unsaved = append(unsaved, f.Job.ID)
			}
		}
		if len(unsaved) == 0 {
			return nil
		}
		exists := map[string]bool{}
		err = inLists(unsaved, func(list string, args []any) error {
			r, err := s.stmt(ctx, tx, `SELECT id FROM webhook_jobs WHERE id IN `+list).QueryContext(ctx, args...)
			if err != nil {
				return err
			}
			ids, err := collect(nil, r, scanString)
			for _, id := range ids {
				exists[id] = true
			}
			return err
		})
		if err != nil {
			return err
		}
		for i, f := range p.Jobs {
			switch id := f.Job.ID; {
			case saved[id] && first[id] == i:
			case exists[id]:
				errs[i] = webhook.ErrLeaseLost
			default:
				errs[i] = webhook.ErrNotFound
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("finish", err)
	}
	return errs, nil
}

// scanString reads a row of one string.
func scanString(sc scanner) (string, error) {
	var s string
	return s, sc.Scan(&s)
}

// UpdateJobs implements [webhook.JobStore]. One statement moves the jobs and returns them
// (one per maxIn of p.Filter.IDs), and one more logs the attempts of those cancelled.
func (s *Store) UpdateJobs(ctx context.Context, p webhook.UpdateJobsParams) ([]*webhook.Job, error) {
	f := &p.Filter
	if len(f.IDs) == 0 && f.MessageID == "" && f.UserID == "" {
		return nil, fmt.Errorf("%w: sqlitestore: update jobs needs job IDs, a message or a user", webhook.ErrInvalid)
	}
	if slices.Contains(p.From, webhook.JobRunning) || p.To == webhook.JobRunning {
		return nil, fmt.Errorf("%w: sqlitestore: update jobs cannot move running jobs", webhook.ErrInvalid)
	}
	if len(p.From) == 0 {
		return nil, nil
	}
	set, setArgs := `state = ?, ready_at = NULL`, []any{p.To}
	switch p.To {
	case webhook.JobScheduled:
		due := nanos(p.DueAt)
		set = `state = ?, due_at = coalesce(?, due_at), ready_at = coalesce(?, due_at, ?)`
		setArgs = append(setArgs, due, due, int64(math.MinInt64))
	case webhook.JobCancelled:
		set += `, request = NULL`
	}
	if s.tx == nil {
		// Most calls, such as a Trigger's for the jobs its event cancels, find no job to
		// move: learn that from a read, which costs far less than a write transaction.
		found := false
		err := forJobs(f, p.From, func(where string, args []any) error {
			var n int
			err := s.readValues(ctx, `SELECT count(*) FROM (SELECT 1 FROM webhook_jobs WHERE `+where+` LIMIT 1)`, args, &n)
			found = found || n > 0
			return err
		})
		if err != nil || !found {
			return nil, wrap("update jobs", err)
		}
	}
	var jobs []*webhook.Job
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		jobs = nil
		// One statement per state moved from, so that the moves are counted; p.To's first, so
		// that no job moved into it is moved, and returned, again.
		var moves counts
		froms := slices.Compact(slices.Sorted(slices.Values(p.From)))
		if i := slices.Index(froms, p.To); i > 0 {
			froms[0], froms[i] = froms[i], froms[0]
		}
		for _, from := range froms {
			err := forJobs(f, []webhook.JobState{from}, func(where string, args []any) error {
				rows, err := s.stmt(ctx, tx, `UPDATE OR IGNORE webhook_jobs SET `+set+` WHERE `+where+` RETURNING `+jobColumns).
					QueryContext(ctx, append(slices.Clip(setArgs), args...)...)
				if err != nil {
					return err
				}
				n := len(jobs)
				jobs, err = collect(jobs, rows, scanJob)
				for _, j := range jobs[n:] {
					moves.move(j.MessageID, from, j.State)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		if err := s.saveCounts(ctx, tx, moves); err != nil || p.To != webhook.JobCancelled {
			return err
		}
		attempts := make([]*webhook.Attempt, len(jobs))
		for i, j := range jobs {
			attempts[i] = &webhook.Attempt{
				JobID: j.ID, MessageID: j.MessageID, MessageVersion: j.MessageVersion, UserID: j.UserID,
				Variant: j.Variant, Number: j.Attempts + 1, Time: p.Now, Outcome: webhook.Cancelled, Err: p.Reason,
			}
		}
		logged, err := attemptRows(attempts)
		if err == nil {
			err = s.insertAttempts(ctx, tx, logged)
		}
		return err
	})
	if err != nil {
		return nil, wrap("update jobs", err)
	}
	slices.SortFunc(jobs, func(a, b *webhook.Job) int { return strings.Compare(a.ID, b.ID) })
	return jobs, nil
}

// forJobs calls f with the conditions, joined by AND, that select the jobs that filter and
// states select, and their arguments: once, or once per IN list of filter.IDs (see
// inLists), stopping at f's first error. Empty fields select every job.
func forJobs(filter *webhook.JobFilter, states []webhook.JobState, f func(where string, args []any) error) error {
	var w where
	if filter.MessageID != "" {
		w.add(`message_id = ?`, filter.MessageID)
	}
	if filter.UserID != "" {
		w.add(`user_id = ?`, filter.UserID)
	}
	if len(states) > 0 {
		list, values := inList(states)
		w.add(`state IN `+list, values...)
	}
	if filter.Unless != "" {
		w.add(`unless_event = ?`, filter.Unless)
	}
	if !filter.CreatedBefore.IsZero() {
		w.add(`(created_at IS NULL OR created_at < ?)`, bound(filter.CreatedBefore, math.MinInt64))
	}
	return w.each(filter.IDs, f)
}

// Jobs implements [webhook.JobStore].
func (s *Store) Jobs(ctx context.Context, q webhook.JobQuery) ([]*webhook.Job, error) {
	var jobs []*webhook.Job
	err := forJobs(&q.JobFilter, q.States, func(where string, args []any) error {
		rows, err := s.read(ctx, `SELECT `+jobColumns+` FROM webhook_jobs WHERE `+where+` AND id > ? ORDER BY id LIMIT ?`,
			append(args, q.After, limitArg(q.Limit))...)
		if err == nil {
			jobs, err = collect(jobs, rows, scanJob)
		}
		return err
	})
	if err != nil {
		return nil, wrap("jobs", err)
	}
	if len(q.IDs) > maxIn { // found in several reads, each in order
		slices.SortFunc(jobs, func(a, b *webhook.Job) int { return strings.Compare(a.ID, b.ID) })
		jobs = slices.CompactFunc(jobs, func(a, b *webhook.Job) bool { return a.ID == b.ID })
		if q.Limit > 0 && len(jobs) > q.Limit {
			jobs = jobs[:q.Limit]
		}
	}
	return jobs, nil
}
