package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// attemptSQL logs attempts, with their rows of attemptRow after it. (On OR IGNORE, see
// orIgnore.)
const (
	attemptSQL = `INSERT OR IGNORE INTO webhook_attempts (job_id, message_id, user_id, number, time, outcome, ignore_caps, data, variant, test, host, status) VALUES `
	attemptRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// attemptRows returns the arguments of the attemptRow of each attempt.
func attemptRows(attempts []*webhook.Attempt) ([][]any, error) {
	rows := make([][]any, len(attempts))
	for i, a := range attempts {
		data, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("attempt of job %q: %w", a.JobID, err)
		}
		rows[i] = []any{a.JobID, a.MessageID, a.UserID, a.Number, instant(a.Time), a.Outcome, a.IgnoreCaps, string(data), a.Variant, a.Test, a.Host, a.StatusCode}
	}
	return rows, nil
}

// insertAttempts logs attempts, given by their attemptRows, in tx: a few statements for any
// number of them.
func (s *Store) insertAttempts(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	return chunks(len(rows), maxChunk, func(start, size int) error {
		_, err := s.stmt(ctx, tx, attemptSQL+rowsOf(size, attemptRow)).ExecContext(ctx, slices.Concat(rows[start:start+size]...)...)
		return err
	})
}

// Columns of an attempt: those of a Brief query, which need no decoding of the JSON, or the
// JSON.
const (
	briefColumns   = `job_id, message_id, user_id, number, time, outcome, ignore_caps, variant, test`
	attemptColumns = `data`
)

// attemptsSQL returns the query of q and its arguments.
func attemptsSQL(q *webhook.AttemptQuery) (string, []any) {
	w := attemptsWhere(q)
	cols := attemptColumns
	if q.Brief {
		cols = briefColumns
	}
	return `SELECT ` + cols + ` FROM webhook_attempts WHERE ` + w.String() +
		` ORDER BY time DESC, seq DESC LIMIT ?`, append(w.args, limitArg(q.Limit))
}

// attemptsWhere returns the conditions of the attempts q selects, ignoring Limit and Brief.
// The caps' query, of a user's succeeded attempts from a time, reads the partial index
// webhook_attempts_sent: its literal 'succeeded' is [webhook.Succeeded], as in the index, so
// that SQLite can use it; a query of outcomes other than succeeded says so, to read
// webhook_attempts_outcome.
func attemptsWhere(q *webhook.AttemptQuery) *where {
	w := &where{}
	if q.JobID != "" {
		w.add(`job_id = ?`, q.JobID)
	}
	if q.MessageID != "" {
		w.add(`message_id = ?`, q.MessageID)
	}
	if q.UserID != "" {
		w.add(`user_id = ?`, q.UserID)
	}
	if q.Variant != "" {
		// The index of variants leaves out attempts without one: say so, since a parameter
		// does not imply the index's condition.
		w.add(`variant = ? AND variant != ''`, q.Variant)
	}
	switch {
	case slices.Equal(q.Outcomes, []webhook.Outcome{webhook.Succeeded}):
		w.add(`outcome = 'succeeded'`)
	case len(q.Outcomes) > 0:
		list, outcomes := inList(q.Outcomes)
		w.add(`outcome IN `+list, outcomes...)
		if !slices.Contains(q.Outcomes, webhook.Succeeded) {
			w.add(`outcome != 'succeeded'`) // webhook_attempts_outcome's WHERE
		}
	}
	if !q.Since.IsZero() {
		w.add(`time >= ?`, instant(q.Since))
	}
	return w
}

// Attempts implements [webhook.AttemptStore].
func (s *Store) Attempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	query, args := attemptsSQL(&q)
	rows, err := s.read(ctx, query, args...)
	if err != nil {
		return nil, wrap("attempts", err)
	}
	scan := document[webhook.Attempt]
	if q.Brief {
		scan = scanBrief
	}
	as, err := collect(nil, rows, scan)
	return as, wrap("attempts", err)
}

// scanBrief reads the briefColumns of one row.
func scanBrief(sc scanner) (webhook.Attempt, error) {
	var a webhook.Attempt
	var at int64
	err := sc.Scan(&a.JobID, &a.MessageID, &a.UserID, &a.Number, &at, &a.Outcome, &a.IgnoreCaps, &a.Variant, &a.Test)
	a.Time = fromInstant(at)
	return a, err
}

// deleteChunk is the number of attempts DeleteAttempts deletes per write transaction, so
// that the Sender's writes wait at most a few milliseconds for it.
const deleteChunk = 500

// deleteAttemptsSQL deletes up to ?2 of the attempts before ?1, oldest first, through the
// index on time.
const deleteAttemptsSQL = `DELETE FROM webhook_attempts WHERE seq IN
	(SELECT seq FROM webhook_attempts WHERE time < ?1 ORDER BY time, seq LIMIT ?2)`

// DeleteAttempts implements [webhook.AttemptPruner], deleteChunk attempts per write
// transaction, oldest first.
func (s *Store) DeleteAttempts(ctx context.Context, before time.Time) (int, error) {
	cut := bound(before, math.MinInt64)
	total := 0
	for {
		n, err := s.execWrite(ctx, deleteAttemptsSQL, cut, deleteChunk)
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlitestore: delete attempts before %s: %w", before.Format(time.RFC3339Nano), err)
		}
		if n < deleteChunk {
			return total, nil
		}
	}
}
