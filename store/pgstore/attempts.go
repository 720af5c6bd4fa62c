package pgstore

import (
	"context"
	"strings"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// briefColumns are the columns of an attempt that a Brief query reads, in order.
const briefColumns = `job_id, message_id, user_id, number, time, outcome, ignore_caps, variant, test`

// Attempts implements [webhook.AttemptStore]. Which fields q sets, and its outcomes, are
// written into the statement, so that PostgreSQL plans each kind of query apart: the brief
// query of a user's succeeded attempts since a time, which caps make before a job's first
// attempt, reads a partial index of succeeded attempts by (user_id, time, seq) that includes
// the brief columns, newest first, without touching the log itself. Since is rounded up to
// the microsecond, as stored times are whole microseconds (see ceilMicro).
func (s *Store) Attempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	var args params
	conds := []string{"true"}
	if q.JobID != "" {
		conds = append(conds, `job_id = `+args.add(q.JobID))
	}
	if q.MessageID != "" {
		conds = append(conds, `message_id = `+args.add(q.MessageID))
	}
	if q.UserID != "" {
		conds = append(conds, `user_id = `+args.add(q.UserID))
	}
	if q.Variant != "" {
		conds = append(conds, `variant = `+args.add(q.Variant))
	}
	if len(q.Outcomes) > 0 {
		known := literals(q.Outcomes, knownOutcome)
		if known == "" {
			return []webhook.Attempt{}, nil
		}
		conds = append(conds, `outcome IN `+known)
	}
	if !q.Since.IsZero() {
		conds = append(conds, `time >= `+args.add(ceilMicro(q.Since)))
	}
	columns, scan := attemptColumns, scanAttempt
	if q.Brief {
		columns, scan = briefColumns, scanBrief
	}
	sql := `SELECT ` + columns + ` FROM webhook_attempts WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY time DESC, seq DESC`
	if q.Limit > 0 {
		sql += ` LIMIT ` + args.add(q.Limit)
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap("attempts", err)
	}
	as, err := collect(rows, scan)
	return as, wrap("attempts", err)
}

// scanAttempt reads an attempt from attemptColumns.
func scanAttempt(row pgx.Row) (webhook.Attempt, error) {
	var a webhook.Attempt
	var reqHeader, respHeader, reqBody, respBody []byte
	var duration int64
	var next *time.Time
	if err := row.Scan(&a.JobID, &a.MessageID, &a.MessageVersion, &a.UserID, &a.Number,
		&a.Time, &duration, &a.Method, &a.URL, &reqHeader, &reqBody, &a.StatusCode, &respHeader,
		&respBody, &a.Err, &a.Outcome, &next, &a.IgnoreCaps, &a.Variant, &a.Test, &a.Host, &a.Replay); err != nil {
		return a, err
	}
	a.Duration, a.RequestBody, a.ResponseBody = time.Duration(duration), string(reqBody), string(respBody)
	a.NextAttemptAt = timeOrZero(next)
	if err := unmarshal(reqHeader, &a.RequestHeader); err != nil {
		return a, err
	}
	return a, unmarshal(respHeader, &a.ResponseHeader)
}

// scanBrief reads an attempt from briefColumns.
func scanBrief(row pgx.Row) (webhook.Attempt, error) {
	var a webhook.Attempt
	err := row.Scan(&a.JobID, &a.MessageID, &a.UserID, &a.Number, &a.Time, &a.Outcome, &a.IgnoreCaps, &a.Variant, &a.Test)
	return a, err
}

// knownOutcome reports whether o is one of the outcomes of the attempt log.
func knownOutcome(o webhook.Outcome) bool {
	switch o {
	case webhook.Succeeded, webhook.Retrying, webhook.Failed, webhook.Blocked, webhook.Skipped, webhook.Cancelled:
		return true
	}
	return false
}

// deleteChunk is the number of attempts DeleteAttempts deletes per statement (each its own
// transaction, outside a [Store.WithTx] view), so that its row locks and WAL are bounded.
const deleteChunk = 1000

// DeleteAttempts implements [webhook.AttemptPruner], deleteChunk attempts per statement,
// oldest first, through the index on (time, seq). Times are kept to the microsecond, and
// before is truncated to it, so an attempt in before's microsecond is kept.
func (s *Store) DeleteAttempts(ctx context.Context, before time.Time) (int, error) {
	// PostgreSQL's timestamps end in the year 294276: every attempt is before a later time.
	if last := time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC); before.After(last) {
		before = last
	}
	total := 0
	for {
		tag, err := s.db.Exec(ctx, `DELETE FROM webhook_attempts WHERE seq IN
			(SELECT seq FROM webhook_attempts WHERE time < $1 ORDER BY time, seq LIMIT $2)`, before, deleteChunk)
		if err != nil {
			return total, wrap("delete attempts before "+before.Format(time.RFC3339Nano), err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < deleteChunk {
			return total, nil
		}
	}
}
