package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// briefColumns are the columns of an attempt that a Brief query reads, in order.
const briefColumns = `job_id, message_id, user_id, number, time, outcome, ignore_caps, variant, test`

// Attempts implements [webhook.AttemptStore], as readLog reads the log. Which fields q sets,
// and its outcomes, are written into the statements, so that PostgreSQL plans each kind of
// query apart: the brief query of a user's succeeded attempts since a time, which caps make
// before a job's first attempt, reads the rows of webhook_successes that hold the user by
// their GIN index, and those of webhook_attempts by a partial index of succeeded attempts
// by (user_id, time, seq) that includes the brief columns. Since is rounded up to the
// microsecond, as stored times are whole microseconds (see ceilMicro).
func (s *Store) Attempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	f, ok := newLogFilter(q.JobID, q.MessageID, q.UserID, q.Variant, q.Outcomes)
	if !ok {
		return []webhook.Attempt{}, nil
	}
	f.since(q.Since)
	columns, scan := attemptColumns, scanAttempt
	if q.Brief {
		columns, scan = briefColumns, scanBrief
	}
	as, err := s.readLog(ctx, f, columns, scan, q.Limit)
	for i := range as {
		as[i].Seq = 0 // readLog orders by it; Attempts, unlike FindAttempts, does not return it
	}
	return as, wrap("attempts", err)
}

// logFilter selects attempts of the log: conds, on an attempt's columns, which
// webhook_attempts and the attempts of webhook_successes have alike (see successesSQL), and
// rows, conditions on a row s of webhook_successes that every attempt of it that conds
// selects meets, by which a statement finds the rows by their indexes. noSuccesses is set
// if conds select no succeeded attempt.
type logFilter struct {
	conds       conds
	rows        []string
	noSuccesses bool
	// read are the columns of attempts that conds read, besides seq and time.
	read []string
	// named is whether rows name a user, message or job; narrow, whether conds select within
	// rows by a variant, which rows cannot, so that many rows may hold no attempt conds select.
	named, narrow bool
}

// newLogFilter returns a logFilter of the attempts of a job, message, user and variant (each
// if not "") with one of outcomes (if any), or false if none is known.
func newLogFilter(job, message, user, variant string, outcomes []webhook.Outcome) (*logFilter, bool) {
	f := new(logFilter)
	f.job(job)
	f.message(message)
	f.user(user)
	f.variant(variant)
	return f, f.outcomes(outcomes)
}

// job, message, user and variant select the attempts of a job, message, user and variant,
// if not "".
func (f *logFilter) job(id string)     { f.member("job_id", "job_ids", id) }
func (f *logFilter) message(id string) { f.member("message_id", "message_ids", id) }
func (f *logFilter) user(id string)    { f.member("user_id", "user_ids", id) }
func (f *logFilter) variant(v string) {
	if v != "" {
		f.conds.add(`variant = ` + f.conds.args.add(v))
		f.read = append(f.read, "variant")
		f.narrow = true
	}
}

// statusClass selects the attempts whose status code is of class c (2 for 2xx), or that
// had none for -1, if c is not 0. The rows of successes hold only 2xx ones (see compact).
func (f *logFilter) statusClass(c int) {
	f.read = append(f.read, "status_code")
	switch {
	case c == -1:
		f.conds.add(`status_code = 0`)
		f.noSuccesses = true
	case c != 0:
		f.conds.add(`status_code >= ` + f.conds.args.add(c*100) + ` AND status_code < ` + f.conds.args.add(c*100+100))
		f.noSuccesses = f.noSuccesses || c != 2
	}
}

// member selects the attempts whose column is v, if v is not "": rows that hold one have v
// in their array of it.
func (f *logFilter) member(column, array, v string) {
	if v == "" {
		return
	}
	p := f.conds.args.add(v)
	f.conds.add(column + ` = ` + p)
	f.read = append(f.read, column)
	f.rows = append(f.rows, `s.`+array+` @> ARRAY[`+p+`::text]`)
	f.named = true
}

// outcomes selects the attempts of outcomes, if any; it returns false if none is known.
func (f *logFilter) outcomes(outcomes []webhook.Outcome) bool {
	if len(outcomes) == 0 {
		return true
	}
	known := literals(outcomes, knownOutcome)
	if known == "" {
		return false
	}
	f.conds.add(`outcome IN ` + known)
	f.read = append(f.read, "outcome")
	if !slices.Contains(outcomes, webhook.Succeeded) {
		f.conds.add(`outcome <> 'succeeded'`) // webhook_attempts_outcome's condition
		f.noSuccesses = true
	}
	return true
}

// since and until select the attempts made at or after t, and before t, if t is not zero.
// Where the filter names a user, message or job, whose rows their GIN indexes find, since
// is written so that the index on time cannot serve it: PostgreSQL would otherwise AND the
// user's rows with every row of the window, and caps' brief query reads a day or more.
func (f *logFilter) since(t time.Time) {
	if !t.IsZero() {
		p := f.conds.args.add(ceilMicro(t))
		f.conds.add(`time >= ` + p)
		if f.named {
			f.rows = append(f.rows, `s.last_time + interval '0' >= `+p)
		} else {
			f.rows = append(f.rows, `s.last_time >= `+p)
		}
	}
}

func (f *logFilter) until(t time.Time) {
	if !t.IsZero() {
		p := f.conds.args.add(ceilMicro(t))
		f.conds.add(`time < ` + p)
		f.rows = append(f.rows, `s.first_time < `+p, `s.last_time < `+p+`::timestamptz + `+spanInterval)
	}
}

// after selects the attempts that come after the one at t with seq in the log's order,
// newest first, if seq is not 0.
func (f *logFilter) after(t time.Time, seq int64) {
	if seq != 0 {
		pt := f.conds.args.add(t)
		f.conds.add(`(time, seq) < (` + pt + `, ` + f.conds.args.add(seq) + `)`)
		f.rows = append(f.rows, `s.first_time <= `+pt, `s.last_time <= `+pt+`::timestamptz + `+spanInterval)
	}
}

// rowConds returns the conditions of f on a row s of webhook_successes, joined by AND.
func (f *logFilter) rowConds() string {
	if len(f.rows) == 0 {
		return "true"
	}
	return strings.Join(f.rows, " AND ")
}

// successArrays are the arrays of a row of webhook_successes, in order, each with the
// column of webhook_attempts whose values it holds.
var successArrays = [][2]string{{"seqs", "seq"}, {"job_ids", "job_id"}, {"message_ids", "message_id"},
	{"message_versions", "message_version"}, {"user_ids", "user_id"}, {"numbers", "number"}, {"times", "time"},
	{"durations", "duration"}, {"methods", "method"}, {"urls", "url"}, {"request_headers", "request_header"},
	{"request_bodies", "request_body"}, {"status_codes", "status_code"}, {"response_headers", "response_header"},
	{"response_bodies", "response_body"}, {"errors", "error"}, {"ignore_caps", "ignore_caps"}, {"variants", "variant"},
	{"tests", "test"}, {"hosts", "host"}, {"replays", "replay"}}

// unnestSuccesses is the unnest of the arrays of a row s of webhook_successes as u, one
// attempt a row, with the columns of webhook_attempts.
var unnestSuccesses = unnestOf(nil)

// unnestOf is unnestSuccesses of the arrays of columns only (all of them if nil), and of
// seq and time.
func unnestOf(columns map[string]bool) string {
	var arrays, names []string
	for _, a := range successArrays {
		if columns == nil || columns[a[1]] || a[1] == "seq" || a[1] == "time" {
			arrays, names = append(arrays, "s."+a[0]), append(names, a[1])
		}
	}
	return `unnest(` + strings.Join(arrays, ", ") + `) AS u(` + strings.Join(names, ", ") + `)`
}

// attemptColumnNames are the names of attemptColumns, in order.
var attemptColumnNames = columnNames(attemptColumns)

// columnNames returns the names of a list of columns, such as attemptColumns.
func columnNames(list string) []string {
	names := strings.Split(list, ",")
	for i, n := range names {
		names[i] = strings.TrimSpace(n)
	}
	return names
}

// columnSet returns the set of names, the columns a read returns, and of those f reads.
func (f *logFilter) columnSet(names []string) map[string]bool {
	set := map[string]bool{}
	for _, c := range append(slices.Clip(names), f.read...) {
		set[c] = true
	}
	return set
}

// successesSQL returns a query of the attempts of the rows s of from (webhook_successes or
// a query of its rows) that rows select, unnested, with the columns seq and time and those
// of columns (names of attemptColumns) only: unnesting an array reads it whole, and the
// bodies and headers are most of a row.
func successesSQL(from, rows string, columns map[string]bool) string {
	list := []string{"u.seq", "u.time"}
	for _, c := range attemptColumnNames {
		switch {
		case !columns[c] || c == "time":
		case c == "outcome":
			list = append(list, `'succeeded'::text AS outcome`)
		case c == "next_attempt_at":
			list = append(list, `NULL::timestamptz AS next_attempt_at`)
		default:
			list = append(list, "u."+c)
		}
	}
	return `SELECT ` + strings.Join(list, ", ") + ` FROM ` + from + ` s, ` + unnestOf(columns) + ` WHERE ` + rows
}

// successSpan is the most time that the attempts of a row of webhook_successes span, from
// the first to start to the last (see compact), by which a read finds the rows that hold
// attempts before a time through the index on their latest times.
const successSpan = 5 * time.Minute

// spanInterval is successSpan in SQL.
var spanInterval = fmt.Sprintf("interval '%d microseconds'", successSpan.Microseconds())

// successChunk is how many rows of webhook_successes readLog reads at a time, at least,
// for a query with a limit.
const successChunk = 16

// readLog returns the attempts that f selects, newest first (by time, then seq), at most
// limit of them if limit > 0, each read with seq and columns (attemptColumns or
// briefColumns) by scan, with its Seq set. Without a limit it reads both tables in one
// statement. With one, it reads the newest attempts of webhook_attempts in one statement,
// and the rows of webhook_successes newest first by their latest attempt, a chunk at a
// time, each chunk's newest attempts that f selects, until it holds limit attempts newer
// than every attempt of the rows not read: a row's attempts span the times of the Finish
// that wrote it, so the order of the rows is not quite the order of their attempts.
func (s *Store) readLog(ctx context.Context, f *logFilter, columns string, scan func(pgx.Row) (webhook.Attempt, error), limit int) ([]webhook.Attempt, error) {
	names := columnNames(columns)
	where, args, need := f.conds.String(), f.conds.args, f.columnSet(names)
	table := `SELECT seq, ` + columns + ` FROM webhook_attempts WHERE ` + where
	if f.noSuccesses || limit <= 0 || f.narrow && !f.named {
		sql := table
		if !f.noSuccesses {
			sql += ` UNION ALL SELECT seq, ` + columns + ` FROM (` + successesSQL("webhook_successes", f.rowConds(), need) + `) AS x WHERE ` + where
		}
		sql += ` ORDER BY time DESC, seq DESC`
		if limit > 0 {
			sql += ` LIMIT ` + args.add(limit)
		}
		return s.queryLog(ctx, sql, args, scan)
	}
	lim := args.add(limit)
	got, err := s.queryLog(ctx, table+` ORDER BY time DESC, seq DESC LIMIT `+lim, args, scan)
	if err != nil {
		return nil, err
	}
	// Each chunk is read with its last row's latest time and seq, as a row of NULL
	// attempt columns, from which the next chunk goes on (seqs start at 1, so a cursorSeq
	// of 0 is the first chunk).
	chunk, ncols, selected := max(limit, successChunk), len(names), f.rowConds()
	var cursorTime time.Time
	var cursorSeq int64
	for {
		rows, chunkArgs := selected, slices.Clone(args)
		if cursorSeq != 0 {
			rows += ` AND (s.last_time, s.seq) < (` + chunkArgs.add(cursorTime) + `, ` + chunkArgs.add(cursorSeq) + `)`
		}
		sql := `WITH chunk AS (
				SELECT * FROM webhook_successes s WHERE ` + rows + ` ORDER BY s.last_time DESC, s.seq DESC LIMIT ` + strconv.Itoa(chunk) + `
			)
			(SELECT seq, ` + columns + `, NULL::timestamptz, NULL::bigint, NULL::bigint FROM (` + successesSQL("chunk", "true", need) + `) AS x
				WHERE ` + where + ` ORDER BY time DESC, seq DESC LIMIT ` + lim + `)
			UNION ALL
			(SELECT NULL, ` + strings.Repeat("NULL, ", ncols) + `last_time, seq, count(*) OVER () FROM chunk
				ORDER BY last_time, seq LIMIT 1)`
		var more bool
		rowsRead, err := s.db.Query(ctx, sql, chunkArgs...)
		if err != nil {
			return nil, err
		}
		for rowsRead.Next() {
			if rowsRead.RawValues()[0] == nil { // the chunk's last row
				var read int
				vals := make([]any, ncols+1) // seq and columns, all NULL
				if err := rowsRead.Scan(append(vals, &cursorTime, &cursorSeq, &read)...); err != nil {
					rowsRead.Close()
					return nil, err
				}
				more = read == chunk
				continue
			}
			var seq int64
			a, err := scan(scanSuffix{scanPrefix{rowsRead, []any{&seq}}, 3})
			if err != nil {
				rowsRead.Close()
				return nil, err
			}
			a.Seq = seq
			got = append(got, a)
		}
		if err := rowsRead.Err(); err != nil {
			return nil, err
		}
		slices.SortFunc(got, newestFirst)
		if len(got) > limit {
			got = got[:limit]
		}
		if !more || len(got) == limit && got[limit-1].Time.After(cursorTime) {
			return got, nil
		}
	}
}

// scanSuffix is a row whose last n columns are skipped.
type scanSuffix struct {
	pgx.Row
	n int
}

func (r scanSuffix) Scan(dest ...any) error {
	return r.Row.Scan(append(dest, make([]any, r.n)...)...)
}

// newestFirst orders attempts newest first by time, then seq.
func newestFirst(a, b webhook.Attempt) int {
	return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(b.Seq, a.Seq))
}

// queryLog runs a query of the log whose rows are seq and the columns scan reads.
func (s *Store) queryLog(ctx context.Context, sql string, args params, scan func(pgx.Row) (webhook.Attempt, error)) ([]webhook.Attempt, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(row pgx.Row) (webhook.Attempt, error) {
		var seq int64
		a, err := scan(scanPrefix{row, []any{&seq}})
		a.Seq = seq
		return a, err
	})
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

// deleteChunk is the number of rows DeleteAttempts deletes or rewrites per statement (each
// its own transaction, outside a [Store.WithTx] view), so that its row locks and WAL are
// bounded: attempts of webhook_attempts, rows of webhook_successes, which hold up to a
// Finish statement's attempts each.
const deleteChunk = 1000

// DeleteAttempts implements [webhook.AttemptPruner], deleteChunk rows at a time: of
// webhook_attempts, oldest first, through the index on (time, seq); of webhook_successes,
// the rows whose attempts are all before, and then those that hold attempts on both sides
// of before, which keep the ones made at or after it. Times are kept to the microsecond,
// and before is truncated to it, so an attempt in before's microsecond is kept.
func (s *Store) DeleteAttempts(ctx context.Context, before time.Time) (int, error) {
	// PostgreSQL's timestamps end in the year 294276: every attempt is before a later time.
	last := time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC)
	if before.After(last) {
		before = last
	}
	spanEnd := before.Add(successSpan)
	if spanEnd.After(last) {
		spanEnd = last
	}
	op := "delete attempts before " + before.Format(time.RFC3339Nano)
	total := 0
	for _, st := range []stmt{
		{`WITH gone AS (DELETE FROM webhook_attempts WHERE seq IN
			(SELECT seq FROM webhook_attempts WHERE time < $1 ORDER BY time, seq LIMIT $2) RETURNING 1)
		SELECT count(*), count(*) FROM gone`, []any{before, deleteChunk}},
		{`WITH gone AS (DELETE FROM webhook_successes WHERE seq IN
			(SELECT seq FROM webhook_successes WHERE last_time < $1 ORDER BY last_time, seq LIMIT $2 FOR UPDATE)
			RETURNING cardinality(seqs) AS n)
		SELECT coalesce(sum(n), 0), count(*) FROM gone`, []any{before, deleteChunk}},
		{trimSuccessesSQL, []any{before, deleteChunk, spanEnd}},
	} {
		for {
			var n, rows int
			if err := s.db.QueryRow(ctx, st.sql, st.args...).Scan(&n, &rows); err != nil {
				return total, wrap(op, err)
			}
			total += n
			if rows < deleteChunk {
				break
			}
		}
	}
	return total, nil
}

// trimSuccessesSQL keeps, of up to $2 rows of webhook_successes that hold attempts made
// before $1 and at or after it (so their latest is before $3, $1 plus successSpan or the
// last time PostgreSQL keeps), the attempts made at or after it, and returns how many
// attempts it deleted and how many rows it changed. It locks the rows it reads, so that a DeleteAttempts running at once waits
// and then reads what this one left.
var trimSuccessesSQL = func() string {
	kept := make([]string, len(successArrays))
	set := make([]string, len(successArrays))
	for i, a := range successArrays {
		kept[i] = `array_agg(u.` + a[1] + ` ORDER BY u.seq) AS ` + a[0]
		set[i] = a[0] + ` = k.` + a[0]
	}
	return `WITH trimmed AS (
		UPDATE webhook_successes t SET seq = k.seqs[1], first_time = k.first_time, ` + strings.Join(set, ", ") + `
		FROM (
			SELECT s.seq AS old_seq, cardinality(s.seqs) AS had, min(u.time) AS first_time, ` + strings.Join(kept, ", ") + `
			FROM (SELECT * FROM webhook_successes WHERE first_time < $1 AND last_time >= $1 AND last_time < $3
				ORDER BY seq LIMIT $2 FOR UPDATE) s,
				` + unnestSuccesses + `
			WHERE u.time >= $1
			GROUP BY s.seq, s.seqs
		) AS k
		WHERE t.seq = k.old_seq
		RETURNING k.had - cardinality(k.seqs) AS n
	)
	SELECT coalesce(sum(n), 0), count(*) FROM trimmed`
}()
