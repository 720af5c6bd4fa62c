package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hookline/webhook"
)

// jobColumns are the columns scanJob reads, in order.
const jobColumns = `id, key, message_id, message_version, user_id, event, params, state, attempts,
	created_at, due_at, lease_owner, lease_expires_at, request, unless_event`

// Enqueue implements [webhook.DeliveryStore].
func (s *Store) Enqueue(ctx context.Context, jobs []*webhook.Job) error {
	if err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.enqueue(ctx, tx, jobs) }); err != nil {
		return fmt.Errorf("sqlitestore: enqueue: %w", err)
	}
	return nil
}

// enqueue inserts jobs, scheduled, skipping those whose key or ID is taken.
func (s *Store) enqueue(ctx context.Context, tx *sql.Tx, jobs []*webhook.Job) error {
	for _, j := range jobs {
		event, err := marshalNull(j.Event, j.Event == nil)
		if err != nil {
			return fmt.Errorf("job %q: %w", j.ID, err)
		}
		params, err := marshalMap(j.Params)
		if err != nil {
			return fmt.Errorf("job %q: %w", j.ID, err)
		}
		request, err := marshalNull(j.Request, j.Request == nil)
		if err != nil {
			return fmt.Errorf("job %q: %w", j.ID, err)
		}
		due := nanos(j.DueAt)
		_, err = s.execTx(ctx, tx, `INSERT INTO jobs (id, key, message_id, message_version, user_id, event,
				params, state, attempts, created_at, due_at, request, ready_at, unless_event)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			j.ID, j.Key, j.MessageID, j.MessageVersion, j.UserID, event, params, webhook.JobScheduled,
			j.Attempts, nanos(j.CreatedAt), due, request, readyAt(due), j.Unless)
		if err != nil {
			return fmt.Errorf("job %q: %w", j.ID, err)
		}
	}
	return nil
}

// readyAt is the ready_at of a job scheduled at due: a zero DueAt is due at once.
func readyAt(due sql.NullInt64) int64 {
	if !due.Valid {
		return math.MinInt64
	}
	return due.Int64
}

// anyDueSQL counts 1 if a job is ready at ?1, else 0.
const anyDueSQL = `SELECT count(*) FROM (SELECT 1 FROM jobs WHERE ready_at <= ?1 LIMIT 1)`

// firstDue selects, with a column list before it, the first ?2 jobs ready at ?1.
const firstDue = ` FROM jobs WHERE ready_at <= ?1 ORDER BY ready_at, id LIMIT ?2`

// Claim implements [webhook.DeliveryStore]. It leases a whole batch in one statement.
func (s *Store) Claim(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*webhook.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Most claims of an idle or busy Sender find nothing due: learn that from a read, which
	// costs far less than a write transaction.
	var due int
	if err := s.queryRow(ctx, anyDueSQL, now.UnixNano()).Scan(&due); err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	expires := now.Add(lease).UnixNano()
	var jobs []*webhook.Job
	dueAt := map[string]int64{} // when each job claimed was due: RETURNING gives the new ready_at
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := s.queryTx(ctx, tx, `SELECT id, ready_at`+firstDue, now.UnixNano(), limit)
		if err != nil {
			return err
		}
		clear(dueAt)
		for rows.Next() {
			var id string
			var at int64
			if err := rows.Scan(&id, &at); err != nil {
				rows.Close()
				return err
			}
			dueAt[id] = at
		}
		if err := rows.Close(); err != nil {
			return err
		}
		rows, err = s.queryTx(ctx, tx, `UPDATE jobs SET state = ?3, lease_owner = ?4, lease_expires_at = ?5, ready_at = ?5
			WHERE id IN (SELECT id`+firstDue+`) RETURNING `+jobColumns, now.UnixNano(), limit, webhook.JobRunning, owner, expires)
		if err == nil {
			jobs, err = collect(rows, scanJob)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: claim: %w", err)
	}
	// RETURNING has no order.
	slices.SortFunc(jobs, func(a, b *webhook.Job) int {
		return cmp.Or(cmp.Compare(dueAt[a.ID], dueAt[b.ID]), strings.Compare(a.ID, b.ID))
	})
	return jobs, nil
}

// Finish implements [webhook.DeliveryStore]. The attempt and the job are saved in one
// transaction.
func (s *Store) Finish(ctx context.Context, j *webhook.Job, a *webhook.Attempt) error {
	request, err := marshalNull(j.Request, j.Request == nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: finish %q: %w", j.ID, err)
	}
	var attempt []byte
	if a != nil {
		if attempt, err = json.Marshal(a); err != nil {
			return fmt.Errorf("sqlitestore: finish %q: %w", j.ID, err)
		}
	}
	due := nanos(j.DueAt)
	var ready sql.NullInt64
	if j.State == webhook.JobScheduled {
		ready = sql.NullInt64{Int64: readyAt(due), Valid: true}
	}
	var lost error
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		lost = nil
		if a != nil {
			if _, err := s.execTx(ctx, tx, `INSERT INTO attempts (delivery_id, message_id, user_id, time, data) VALUES (?, ?, ?, ?, ?)`,
				a.DeliveryID, a.MessageID, a.UserID, a.Time.UnixNano(), attempt); err != nil {
				return err
			}
		}
		res, err := s.execTx(ctx, tx, `UPDATE jobs SET state = ?, attempts = ?, due_at = ?, request = ?,
				lease_owner = NULL, lease_expires_at = NULL, ready_at = ?
			WHERE id = ? AND state = ? AND lease_owner = ?`,
			j.State, j.Attempts, due, request, ready, j.ID, webhook.JobRunning, j.LeaseOwner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var n int
		if err := s.queryRowTx(ctx, tx, `SELECT count(*) FROM jobs WHERE id = ?`, j.ID).Scan(&n); err != nil {
			return err
		}
		lost = webhook.ErrLeaseLost
		if n == 0 {
			lost = webhook.ErrNotFound
		}
		return nil // commit the attempt all the same
	})
	if err == nil {
		err = lost
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: finish %q: %w", j.ID, err)
	}
	return nil
}

// nextDueSQL selects when the first job is ready.
const nextDueSQL = `SELECT min(ready_at) FROM jobs WHERE ready_at IS NOT NULL`

// NextDue implements [webhook.DeliveryStore].
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.queryRow(ctx, nextDueSQL).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("sqlitestore: next due: %w", err)
	}
	return fromNanos(next), next.Valid, nil
}

// Job implements [webhook.DeliveryStore].
func (s *Store) Job(ctx context.Context, id string) (*webhook.Job, error) {
	j, err := scanJob(s.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: job %q: %w", id, notFound(err))
	}
	return j, nil
}

// Cancel implements [webhook.DeliveryStore].
func (s *Store) Cancel(ctx context.Context, f webhook.JobFilter) ([]*webhook.Job, error) {
	if f.MessageID == "" && f.UserID == "" {
		return nil, fmt.Errorf("%w: sqlitestore: cancel needs a message or user ID", webhook.ErrInvalid)
	}
	before := nanos(f.CreatedBefore)
	var jobs []*webhook.Job
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := s.queryTx(ctx, tx, `UPDATE jobs SET state = ?1, ready_at = NULL, request = NULL
			WHERE state IN (?2, ?6) AND (?3 = '' OR message_id = ?3) AND (?4 = '' OR user_id = ?4)
				AND (?5 IS NULL OR created_at IS NULL OR created_at < ?5) AND (?7 = '' OR unless_event = ?7)
			RETURNING `+jobColumns, webhook.JobCancelled, webhook.JobScheduled, f.MessageID, f.UserID, before,
			webhook.JobHeld, f.Unless)
		if err == nil {
			jobs, err = collect(rows, scanJob)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: cancel: %w", err)
	}
	slices.SortFunc(jobs, func(a, b *webhook.Job) int { return strings.Compare(a.ID, b.ID) })
	return jobs, nil
}

// scanJob reads the jobColumns of one row.
func scanJob(sc scanner) (*webhook.Job, error) {
	var (
		j                             webhook.Job
		event, params, owner, request sql.NullString
		created, due, expires         sql.NullInt64
	)
	err := sc.Scan(&j.ID, &j.Key, &j.MessageID, &j.MessageVersion, &j.UserID, &event, &params, &j.State,
		&j.Attempts, &created, &due, &owner, &expires, &request, &j.Unless)
	if err != nil {
		return nil, err
	}
	j.CreatedAt, j.DueAt, j.LeaseExpiresAt = fromNanos(created), fromNanos(due), fromNanos(expires)
	j.LeaseOwner = owner.String
	for _, u := range []struct {
		s sql.NullString
		v any
	}{{event, &j.Event}, {params, &j.Params}, {request, &j.Request}} {
		if err := unmarshalNull(u.s, u.v); err != nil {
			return nil, err
		}
	}
	return &j, nil
}

// Attempts implements [webhook.AttemptStore].
func (s *Store) Attempts(ctx context.Context, f webhook.AttemptFilter) ([]webhook.Attempt, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // no limit
	}
	as, err := documents[webhook.Attempt](ctx, s, `SELECT data FROM attempts
		WHERE (?1 = '' OR message_id = ?1) AND (?2 = '' OR user_id = ?2) AND (?3 = '' OR delivery_id = ?3)
		ORDER BY time DESC, seq DESC LIMIT ?4`, f.MessageID, f.UserID, f.DeliveryID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: attempts: %w", err)
	}
	return as, nil
}

// deleteChunk is the number of attempts DeleteAttempts deletes per write transaction, so
// that jobs wait at most a few milliseconds for it.
const deleteChunk = 500

// deleteAttemptsSQL deletes up to ?2 of the attempts before ?1, oldest first, through the
// index on (time, seq).
const deleteAttemptsSQL = `DELETE FROM attempts WHERE seq IN (SELECT seq FROM attempts WHERE time < ?1 ORDER BY time, seq LIMIT ?2)`

// DeleteAttempts implements [webhook.AttemptPruner], deleteChunk attempts per write
// transaction, oldest first.
func (s *Store) DeleteAttempts(ctx context.Context, before time.Time) (int, error) {
	// Times are kept as int64 nanoseconds, from 1677 to 2262: nothing is before the first,
	// and everything is before a time after the last.
	cut := int64(math.MaxInt64)
	switch {
	case before.Before(time.Unix(0, math.MinInt64)):
		return 0, ctx.Err()
	case before.Before(time.Unix(0, math.MaxInt64)):
		cut = before.UnixNano()
	}
	total := 0
	for {
		n, err := s.execWrite(ctx, deleteAttemptsSQL, cut, deleteChunk)
		if err != nil {
			return total, fmt.Errorf("sqlitestore: delete attempts before %s: %w", before.Format(time.RFC3339Nano), err)
		}
		total += n
		if n < deleteChunk {
			return total, nil
		}
	}
}
