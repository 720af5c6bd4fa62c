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

// jobColumns are the columns scanJob reads, in order.
const jobColumns = `id, key, message_id, message_version, user_id, event, params, state, attempts,
	created_at, due_at, lease_owner, lease_expires_at, request, unless, trace, variant, replay_from`

// scanJob reads a job from jobColumns.
func scanJob(row pgx.Row) (*webhook.Job, error) {
	j := new(webhook.Job)
	var event, params, req, trace []byte
	var expires *time.Time
	if err := row.Scan(&j.ID, &j.Key, &j.MessageID, &j.MessageVersion, &j.UserID, &event, &params,
		&j.State, &j.Attempts, &j.CreatedAt, &j.DueAt, &j.LeaseOwner, &expires, &req, &j.Unless, &trace, &j.Variant, &j.ReplayFrom); err != nil {
		return nil, err
	}
	if err := unmarshal(trace, &j.Trace); err != nil {
		return nil, err
	}
	j.LeaseExpiresAt = timeOrZero(expires)
	if err := unmarshal(event, &j.Event); err != nil {
		return nil, err
	}
	if err := unmarshal(params, &j.Params); err != nil {
		return nil, err
	}
	if err := unmarshal(req, &j.Request); err != nil {
		return nil, err
	}
	return j, nil
}

// insertJobsSQL returns a statement that saves the jobs of 15 arrays of arguments from
// $first on (see jobArgs), whose keys differ, in state scheduled or held: it saves the key
// of each in webhook_job_keys unless a job was saved under it before, and the jobs whose keys
// it saved, and lists and counts them. It returns the key and ID of each job it saved; then a
// row (NULL, NULL) if it notified listeners, which it does if it saved a scheduled job.
// before, if not empty, is put in it as its first common table expressions. The statement
// unnests the arrays twice rather than keep the jobs in a CTE that both inserts read, which
// would copy every job into a tuplestore.
func insertJobsSQL(first int, before string) string {
	arrays := make([]string, 15)
	for i, typ := range []string{"text", "text", "text", "int", "text", "jsonb", "jsonb", "text", "int",
		"timestamptz", "timestamptz", "jsonb", "text", "jsonb", "text"} {
		arrays[i] = "$" + strconv.Itoa(first+i) + "::" + typ + "[]"
	}
	if before != "" {
		before += ", "
	}
	return `WITH ` + before + `new_keys AS (
		INSERT INTO webhook_job_keys (key, job_id)
		SELECT * FROM unnest(` + arrays[1] + `, ` + arrays[0] + `)
		ON CONFLICT (key) DO NOTHING
		RETURNING key
	), new_jobs AS (
		INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, event, params,
			state, attempts, created_at, due_at, request, unless, trace, variant)
		SELECT id, key, message_id, message_version, user_id, event, params,
			CASE state WHEN 'held' THEN 'held' ELSE 'scheduled' END, attempts, created_at, due_at, request, unless, trace, variant
		FROM unnest(` + strings.Join(arrays, ", ") + `)
			AS j(id, key, message_id, message_version, user_id, event, params, state,
				attempts, created_at, due_at, request, unless, trace, variant)
		WHERE key IN (SELECT key FROM new_keys)
		RETURNING key, id, state, created_at, message_id, user_id
	), listed AS (
		INSERT INTO webhook_job_list (id, created_at, message_id, user_id)
		SELECT id, created_at, message_id, user_id FROM new_jobs
	), counted AS (
		` + countMovesSQL + `SELECT message_id, state, 1 AS n FROM new_jobs` + countMovesEnd + `
	)
	SELECT key, id FROM new_jobs
	UNION ALL
	SELECT NULL, NULL FROM (` + notifySQL + `) notified WHERE EXISTS (SELECT FROM new_jobs WHERE state = 'scheduled')`
}

// The statements of Enqueue: the jobs of a call, or its events and jobs.
var (
	enqueueJobsSQL = insertJobsSQL(1, "")
	enqueueAllSQL  = insertJobsSQL(6, "new_events AS ("+insertEventsSQL+")")
)

// jobArgs returns the 15 arrays of arguments of insertJobsSQL for jobs.
func jobArgs(jobs []*webhook.Job) ([]any, error) {
	n := len(jobs)
	var (
		ids, keys, msgs, users = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		states, unless         = make([]string, n), make([]string, n)
		variants               = make([]string, n)
		versions, attempts     = make([]int32, n), make([]int32, n)
		events, params, reqs   = make([][]byte, n), make([][]byte, n), make([][]byte, n)
		traces                 = make([][]byte, n)
		created, due           = make([]time.Time, n), make([]time.Time, n)
	)
	for i, j := range jobs {
		ids[i], keys[i], msgs[i], users[i] = j.ID, j.Key, j.MessageID, j.UserID
		states[i], unless[i], variants[i] = string(j.State), j.Unless, j.Variant
		versions[i], attempts[i] = int32(j.MessageVersion), int32(j.Attempts)
		created[i], due[i] = j.CreatedAt, j.DueAt
		var err error
		if events[i], err = marshal(j.Event); err != nil {
			return nil, err
		}
		if params[i], err = marshal(j.Params); err != nil {
			return nil, err
		}
		if reqs[i], err = marshal(j.Request); err != nil {
			return nil, err
		}
		if traces[i], err = marshal(j.Trace); err != nil {
			return nil, err
		}
	}
	return []any{ids, keys, msgs, versions, users, events, params, states, attempts, created, due, reqs, unless, traces, variants}, nil
}

// enqueueCall is an Enqueue call: its parameters, and its result.
type enqueueCall struct {
	p   webhook.EnqueueParams
	res webhook.EnqueueResult
}

// Enqueue implements [webhook.JobStore], in one statement, and one more to look up the IDs of
// the jobs saved before under the keys of some, if there are any. It notifies listeners (see
// [Store.Notifications]) when a scheduled job is new, on commit.
//
// Calls made at the same time share a statement and a commit: while one commit waits for
// the disk, the calls that arrive wait too, and then commit together. Each returns once its
// events and jobs are committed as durably as the server's synchronous_commit says. A call
// whose jobs have begun to commit waits for the commit even if ctx ends; the shared statement
// is cancelled only once the contexts of all the calls that share it have ended.
func (s *Store) Enqueue(ctx context.Context, p webhook.EnqueueParams) (webhook.EnqueueResult, error) {
	if len(p.Events) == 0 && len(p.Jobs) == 0 {
		return webhook.EnqueueResult{JobIDs: []string{}}, nil
	}
	c := &enqueueCall{p: p}
	err := do(ctx, s.enqueues, s.enqueueBatch, c)
	return c.res, wrap("enqueue", err)
}

// enqueueBatch enqueues the events and jobs of several Enqueue calls in one statement, in
// order, or, if that fails, each call's in a statement of its own.
func (s *Store) enqueueBatch(ctx context.Context, calls []*enqueueCall) []error {
	if len(calls) == 1 {
		return []error{s.enqueue(ctx, calls[0])}
	}
	all := &enqueueCall{}
	for _, c := range calls {
		all.p.Events = append(all.p.Events, c.p.Events...)
		all.p.Jobs = append(all.p.Jobs, c.p.Jobs...)
	}
	if s.enqueue(ctx, all) != nil {
		return eachAlone(ctx, calls, s.enqueue)
	}
	ids := all.res.JobIDs
	for _, c := range calls {
		c.res.JobIDs, ids = ids[:len(c.p.Jobs):len(c.p.Jobs)], ids[len(c.p.Jobs):]
	}
	return make([]error, len(calls))
}

// eachAlone runs each call by itself with run and returns their errors: what a batch falls
// back to when it fails as a whole, so that one call's bad data fails that call only.
func eachAlone[T any](ctx context.Context, calls []T, run func(context.Context, T) error) []error {
	errs := make([]error, len(calls))
	for i, c := range calls {
		errs[i] = run(ctx, c)
	}
	return errs
}

// enqueue runs the Enqueue call c in one statement, and sets its result. The statement
// saves the first job of each key and returns the IDs of the jobs it saved; those of jobs
// whose keys were saved before are looked up after it, in a statement of their own.
func (s *Store) enqueue(ctx context.Context, c *enqueueCall) error {
	var sql string
	var args []any
	if len(c.p.Events) > 0 {
		events, err := eventArgs(c.p.Events)
		if err != nil {
			return unsent{err}
		}
		sql, args = insertEventsSQL, events
	}
	if len(c.p.Jobs) > 0 {
		jobs, err := jobArgs(firstOfEachKey(c.p.Jobs))
		if err != nil {
			return unsent{err}
		}
		sql, args = enqueueJobsSQL, append(args, jobs...)
		if len(c.p.Events) > 0 {
			sql = enqueueAllSQL
		}
	}
	saved := make(map[string]string, len(c.p.Jobs)) // key → ID
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	var key, id *string
	if _, err := pgx.ForEachRow(rows, []any{&key, &id}, func() error {
		if key != nil { // else the row that says it notified
			saved[*key] = *id
		}
		return nil
	}); err != nil {
		return err
	}
	ids := make([]string, len(c.p.Jobs))
	for i, j := range c.p.Jobs {
		ids[i] = saved[j.Key]
	}
	if slices.Contains(ids, "") {
		err = s.lookUpKeys(ctx, c.p.Jobs, ids)
	}
	c.res.JobIDs = ids
	return err
}

// firstOfEachKey returns jobs without the later ones of each key: Enqueue saves the first
// job of a key, and the others get its ID.
func firstOfEachKey(jobs []*webhook.Job) []*webhook.Job {
	seen := make(map[string]bool, len(jobs))
	first := make([]*webhook.Job, 0, len(jobs))
	for _, j := range jobs {
		if !seen[j.Key] {
			seen[j.Key] = true
			first = append(first, j)
		}
	}
	return first
}

// lookUpKeys sets the empty ones of ids, those of jobs whose keys were saved before, to the
// IDs of the jobs saved under their keys.
func (s *Store) lookUpKeys(ctx context.Context, jobs []*webhook.Job, ids []string) error {
	var keys []string
	for i, id := range ids {
		if id == "" {
			keys = append(keys, jobs[i].Key)
		}
	}
	rows, err := s.db.Query(ctx, `SELECT key, job_id FROM webhook_job_keys WHERE key = ANY ($1)`, keys)
	if err != nil {
		return err
	}
	saved := map[string]string{}
	var key, id string
	if _, err := pgx.ForEachRow(rows, []any{&key, &id}, func() error {
		saved[key] = id
		return nil
	}); err != nil {
		return err
	}
	for i := range ids {
		if ids[i] == "" {
			ids[i] = saved[jobs[i].Key]
		}
	}
	return nil
}

// claimSQL leases up to limit due jobs (see [Store.Claim]) and returns, for each, the time
// it was due and jobColumns; then, if it claimed fewer than limit, a row whose first column
// is when the first job that it did not claim is due (NULL if none will be) and whose others
// are NULL. That row reads the statement's snapshot, which does not see the leases just
// given. The limit is written into the statement, not passed as a parameter, so that the
// plan kept for it (see planSettings) is made for that limit. The second condition on j.id
// makes the update find the jobs by their primary key whatever the planner guesses of the
// CTE's size. The CTE's columns are named apart from the table's, so that jobColumns name
// the updated job's.
func claimSQL(limit int) string {
	return `WITH due AS (
		SELECT id AS due_id, ready_at AS was_ready, state AS was_state FROM webhook_jobs
		WHERE ready_at <= $1
		ORDER BY ready_at, id
		LIMIT ` + strconv.Itoa(limit) + `
		FOR UPDATE SKIP LOCKED
	), claimed AS (
		UPDATE webhook_jobs j SET state = 'running', lease_owner = $2, lease_expires_at = $3
		FROM due WHERE j.id = due.due_id AND j.id = ANY (ARRAY (SELECT due_id FROM due))
		RETURNING due.was_ready, due.was_state, ` + jobColumns + `
	), counted AS (
		` + countMovesSQL + `
		SELECT c.message_id, m.state, m.n FROM claimed c,
			LATERAL (VALUES ('scheduled', -1), ('running', 1)) AS m(state, n)
		WHERE c.was_state = 'scheduled'
		` + countMovesEnd + `
	)
	SELECT was_ready, ` + jobColumns + ` FROM claimed
	UNION ALL
	SELECT min(ready_at), ` + strings.Repeat("NULL, ", jobColumnCount-1) + `NULL
	FROM webhook_jobs WHERE ready_at > $1
	HAVING (SELECT count(*) FROM claimed) < ` + strconv.Itoa(limit)
}

// countMovesSQL and countMovesEnd, around a query of rows (message_id, state, n), add each
// n to the count of its message and state in webhook_job_counts. Enqueue counts the jobs it
// inserts with them, and Claim, Finish, UpdateJobs and ReplayJobs their moves, in the same
// statement (a trigger of webhook_jobs counts the jobs deleted); the rows are taken in key
// order, so that concurrent statements lock them in the same order.
const (
	countMovesSQL = `INSERT INTO webhook_job_counts (message_id, state, n)
		SELECT message_id, state, sum(n) FROM (`
	countMovesEnd = `) AS moves GROUP BY message_id, state HAVING sum(n) <> 0 ORDER BY message_id, state
		ON CONFLICT (message_id, state) DO UPDATE SET n = webhook_job_counts.n + excluded.n`
)

// moveSQL returns the common table expressions old, moved and counted of a statement that
// moves the jobs of webhook_jobs j that where selects by set, and counts the moves: moved
// returns was_state, the state a job was moved from, and returning, which must name
// j.message_id and j.state. The jobs are locked and read before they are moved, so that the
// moves are counted from the states they were in; in ID order, so that calls made at once
// that select the same jobs by different filters (found in the order of different indexes,
// or of the rows' versions after earlier moves) wait for each other rather than deadlock.
func moveSQL(where, set, returning string) string {
	return `WITH old AS (SELECT id, state FROM webhook_jobs j WHERE ` + where + ` ORDER BY id FOR UPDATE),
		moved AS (UPDATE webhook_jobs j SET ` + set + ` FROM old WHERE j.id = old.id AND j.state = old.state
			RETURNING old.state AS was_state, ` + returning + `),
		counted AS (` + countMovesSQL + `
			SELECT message_id, was_state AS state, -1 AS n FROM moved UNION ALL SELECT message_id, state, 1 FROM moved
			` + countMovesEnd + `)`
}

// jobColumnCount is the number of jobColumns.
var jobColumnCount = strings.Count(jobColumns, ",") + 1

// Claim implements [webhook.JobStore], in one statement. It locks the due jobs it takes with
// FOR UPDATE SKIP LOCKED, so concurrent claimers take different jobs without waiting for each
// other; its NextDue leaves out the jobs due now that other claimers hold locked, which are
// theirs.
//
// Claim and [Store.Finish] commit asynchronously (synchronous_commit off, for their own
// transactions only): they do not wait for the disk. If the database server crashes, it
// may forget the last claims and finishes, which are then made again: a job may be sent
// twice, with the same webhook-id, but none is lost. Enqueues and everything else wait for
// the disk as the server's settings say. Through a [Store.WithTx] view, they leave the
// transaction's commit as it is.
func (s *Store) Claim(ctx context.Context, p webhook.ClaimParams) (webhook.ClaimResult, error) {
	var res webhook.ClaimResult
	if p.Limit <= 0 {
		return res, nil
	}
	type claimed struct {
		due time.Time
		job *webhook.Job
	}
	var got []claimed
	var next *time.Time
	err := s.batch(ctx, hotSettings, []stmt{{claimSQL(p.Limit), []any{p.Now, p.Owner, p.Now.Add(p.Lease)}}},
		func(_ int, rows pgx.Rows) error {
			defer rows.Close()
			for rows.Next() {
				// The row of NextDue has a NULL ID, the first of jobColumns after the due time.
				if rows.RawValues()[1] == nil {
					if err := rows.Scan(append([]any{&next}, make([]any, jobColumnCount)...)...); err != nil {
						return err
					}
					continue
				}
				var c claimed
				var err error
				if c.job, err = scanJob(scanPrefix{rows, []any{&c.due}}); err != nil {
					return err
				}
				got = append(got, c)
			}
			return rows.Err()
		})
	if err != nil {
		return res, wrap("claim", err)
	}
	slices.SortFunc(got, func(a, b claimed) int {
		return cmp.Or(a.due.Compare(b.due), cmp.Compare(a.job.ID, b.job.ID))
	})
	res.Jobs = make([]*webhook.Job, len(got))
	for i, c := range got {
		res.Jobs[i] = c.job
	}
	if len(res.Jobs) < p.Limit {
		res.NextDue = timeOrZero(next)
	}
	return res, nil
}

// attemptColumns are the columns of an attempt that Finish writes and Attempts reads, in
// order.
const attemptColumns = `job_id, message_id, message_version, user_id, number, time,
	duration, method, url, request_header, request_body, status_code, response_header,
	response_body, error, outcome, next_attempt_at, ignore_caps, variant, test, host, replay`

// finishJobsSQL saves jobs still leased to their owners (the arrays $1 to $6, one element
// per job), counts their moves out of running, and returns the IDs of those it saved.
const finishJobsSQL = `WITH updated AS (
	UPDATE webhook_jobs j SET state = f.state, attempts = f.attempts, due_at = f.due_at,
		request = f.request, lease_owner = '', lease_expires_at = NULL
	FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::jsonb[])
		AS f(id, owner, state, attempts, due_at, request)
	WHERE j.id = f.id AND j.state = 'running' AND j.lease_owner = f.owner
	RETURNING j.id, j.message_id, j.state
), counted AS (
	` + countMovesSQL + `
	SELECT u.message_id, m.state, m.n FROM updated u, LATERAL (VALUES ('running', -1), (u.state, 1)) AS m(state, n)
	` + countMovesEnd + `
)
SELECT id FROM updated`

// logAttemptsSQL appends attempts (the arrays $1 to $22, one element per attempt), in order.
const logAttemptsSQL = `INSERT INTO webhook_attempts (` + attemptColumns + `)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::timestamptz[],
	$7::bigint[], $8::text[], $9::text[], $10::bytea[], $11::bytea[], $12::int[], $13::bytea[],
	$14::bytea[], $15::text[], $16::text[], $17::timestamptz[], $18::boolean[], $19::text[], $20::boolean[],
	$21::text[], $22::boolean[])`

// logSuccessesSQL appends the succeeded attempts of a Finish statement (one call's, or
// those of calls made at once, which share it) to the log as one row of webhook_successes
// (the arrays $1 to $20, one element per attempt, as attemptArrays.args orders them without
// outcomes; $21 and $22 their earliest and latest times), with a seq each from
// webhook_attempts' sequence, in order.
// The sequence is named as a constant, which PostgreSQL resolves once per statement (once
// per prepared statement in pgx's default mode): pg_get_serial_sequence looked it up in the
// catalogs for every attempt (4% of the server's CPU in a burst).
const logSuccessesSQL = `INSERT INTO webhook_successes (seq, first_time, last_time, seqs,
	job_ids, message_ids, message_versions, user_ids, numbers, times, durations, methods, urls,
	request_headers, request_bodies, status_codes, response_headers, response_bodies, errors,
	ignore_caps, variants, tests, hosts, replays)
SELECT s.seqs[1], $21, $22, s.seqs, $1::text[], $2::text[], $3::int[], $4::text[], $5::int[],
	$6::timestamptz[], $7::bigint[], $8::text[], $9::text[], $10::bytea[], $11::bytea[], $12::int[],
	$13::bytea[], $14::bytea[], $15::text[], $16::boolean[], $17::text[], $18::boolean[], $19::text[],
	$20::boolean[]
FROM (SELECT array_agg(seq ORDER BY seq) AS seqs FROM (
	SELECT nextval('webhook_attempts_seq_seq') AS seq
	FROM generate_series(1, cardinality($1::text[]))) AS drawn) AS s`

// attemptArrays are the columns of attempts, one array each, one element per attempt.
type attemptArrays struct {
	job, message, user, method, url, err, outcome, variant, host []string
	version, number, status                                      []int32
	time                                                         []time.Time
	duration                                                     []int64
	reqHeader, reqBody, respHeader, respBody                     [][]byte
	next                                                         []*time.Time
	ignoreCaps, test, replay                                     []bool
}

// newAttemptArrays returns attemptArrays with room for n attempts.
func newAttemptArrays(n int) *attemptArrays {
	return &attemptArrays{
		job: make([]string, 0, n), message: make([]string, 0, n), user: make([]string, 0, n),
		method: make([]string, 0, n), url: make([]string, 0, n), err: make([]string, 0, n),
		outcome: make([]string, 0, n), variant: make([]string, 0, n), host: make([]string, 0, n),
		version: make([]int32, 0, n), number: make([]int32, 0, n), status: make([]int32, 0, n),
		time: make([]time.Time, 0, n), duration: make([]int64, 0, n),
		reqHeader: make([][]byte, 0, n), reqBody: make([][]byte, 0, n),
		respHeader: make([][]byte, 0, n), respBody: make([][]byte, 0, n),
		next:       make([]*time.Time, 0, n),
		ignoreCaps: make([]bool, 0, n), test: make([]bool, 0, n), replay: make([]bool, 0, n),
	}
}

// add appends a to x.
func (x *attemptArrays) add(a *webhook.Attempt) {
	x.job, x.message, x.version = append(x.job, a.JobID), append(x.message, a.MessageID), append(x.version, int32(a.MessageVersion))
	x.user, x.number, x.time = append(x.user, a.UserID), append(x.number, int32(a.Number)), append(x.time, a.Time)
	x.duration, x.method, x.url = append(x.duration, int64(a.Duration)), append(x.method, a.Method), append(x.url, a.URL)
	x.reqHeader, x.reqBody = append(x.reqHeader, headerJSON(a.RequestHeader)), append(x.reqBody, []byte(a.RequestBody))
	x.status, x.respHeader = append(x.status, int32(a.StatusCode)), append(x.respHeader, headerJSON(a.ResponseHeader))
	x.respBody, x.err = append(x.respBody, []byte(a.ResponseBody)), append(x.err, a.Err)
	x.outcome, x.next, x.ignoreCaps = append(x.outcome, string(a.Outcome)), append(x.next, nullTime(a.NextAttemptAt)), append(x.ignoreCaps, a.IgnoreCaps)
	x.variant, x.test = append(x.variant, a.Variant), append(x.test, a.Test)
	x.host, x.replay = append(x.host, a.Host), append(x.replay, a.Replay)
}

// args returns the arrays in the order of attemptColumns, without outcome and next attempt
// unless outcomes is set: the arguments of logAttemptsSQL, or the first of logSuccessesSQL's.
func (x *attemptArrays) args(outcomes bool) []any {
	a := []any{x.job, x.message, x.version, x.user, x.number, x.time, x.duration, x.method, x.url, x.reqHeader,
		x.reqBody, x.status, x.respHeader, x.respBody, x.err}
	if outcomes {
		a = append(a, x.outcome, x.next)
	}
	return append(a, x.ignoreCaps, x.variant, x.test, x.host, x.replay)
}

// compact reports whether an attempt can be logged in a row of webhook_successes, which
// holds succeeded attempts with a 2xx status and no next attempt.
func compact(a *webhook.Attempt) bool {
	return a.Outcome == webhook.Succeeded && a.NextAttemptAt.IsZero() && a.StatusCode >= 200 && a.StatusCode < 300
}

// finishArgs returns the arguments of finishJobsSQL for fs, and the statement that logs
// their attempts, if any have one: logSuccessesSQL if all of them can be logged so (see
// compact) and they started within successSpan of each other, else logAttemptsSQL for all
// of them, so that the attempts of one statement take their seqs in its order either way.
func finishArgs(fs []webhook.Finished) (jobArgs []any, log *stmt, err error) {
	var (
		ids, owners, states = make([]string, len(fs)), make([]string, len(fs)), make([]string, len(fs))
		attempts            = make([]int32, len(fs))
		due                 = make([]time.Time, len(fs))
		reqs                = make([][]byte, len(fs))
		na                  = attemptCount(fs)
		logged              = newAttemptArrays(na)
		allCompact          = true
	)
	for i, f := range fs {
		j := f.Job
		ids[i], owners[i], states[i], attempts[i], due[i] = j.ID, j.LeaseOwner, string(j.State), int32(j.Attempts), j.DueAt
		if reqs[i], err = marshal(j.Request); err != nil {
			return nil, nil, err
		}
		if f.Attempt != nil {
			logged.add(f.Attempt)
			allCompact = allCompact && compact(f.Attempt)
		}
	}
	jobArgs = []any{ids, owners, states, attempts, due, reqs}
	if na == 0 {
		return jobArgs, nil, nil
	}
	first, last := slices.MinFunc(logged.time, time.Time.Compare), slices.MaxFunc(logged.time, time.Time.Compare)
	if allCompact && last.Sub(first) <= successSpan {
		return jobArgs, &stmt{logSuccessesSQL, append(logged.args(false), first, last)}, nil
	}
	return jobArgs, &stmt{logAttemptsSQL, logged.args(true)}, nil
}

// attemptCount returns how many of fs have an attempt.
func attemptCount(fs []webhook.Finished) int {
	n := 0
	for _, f := range fs {
		if f.Attempt != nil {
			n++
		}
	}
	return n
}

// finishCall is a Finish call: its items, and their errors.
type finishCall struct {
	items []webhook.Finished
	errs  []error
}

// Finish implements [webhook.JobStore], in one statement that commits asynchronously (see
// [Store.Claim]). Calls made at the same time share the statement, as Enqueue's do. If the
// statement fails, it is run again for each item alone if it surely changed nothing, so that
// one item's bad data fails that item only; if it may have been applied (the connection was
// lost), each item gets its error, since running it again would log its attempt twice.
func (s *Store) Finish(ctx context.Context, p webhook.FinishParams) ([]error, error) {
	c := &finishCall{items: p.Jobs}
	if len(c.items) == 0 {
		return []error{}, nil
	}
	if err := do(ctx, s.finishes, s.finishBatch, c); err != nil {
		return nil, wrap("finish", err)
	}
	return c.errs, nil
}

// finishBatch runs the Finish calls in one statement, or as finishItems says.
func (s *Store) finishBatch(ctx context.Context, calls []*finishCall) []error {
	var items []webhook.Finished
	for _, c := range calls {
		items = append(items, c.items...)
	}
	errs := s.finishItems(ctx, items)
	for _, c := range calls {
		c.errs, errs = errs[:len(c.items):len(c.items)], errs[len(c.items):]
	}
	return make([]error, len(calls))
}

// finishItems finishes items in one statement, or, if two finish the same job or the
// statement fails having surely changed nothing, each in a statement of its own, and
// returns their errors.
func (s *Store) finishItems(ctx context.Context, items []webhook.Finished) []error {
	seen := make(map[string]bool, len(items))
	for _, f := range items {
		if seen[f.Job.ID] {
			return s.finishEach(ctx, items)
		}
		seen[f.Job.ID] = true
	}
	errs, err := s.finishAll(ctx, items)
	switch {
	case err == nil:
		return errs
	case len(items) > 1 && changedNothing(err):
		return s.finishEach(ctx, items)
	}
	for i := range errs {
		errs[i] = wrap("finish", err)
	}
	return errs
}

// finishEach finishes each of items in a statement of its own, in order, and returns their
// errors.
func (s *Store) finishEach(ctx context.Context, items []webhook.Finished) []error {
	errs := make([]error, len(items))
	for i := range items {
		one, err := s.finishAll(ctx, items[i:i+1])
		errs[i] = cmp.Or(wrap("finish", err), one[0])
	}
	return errs
}

// finishAll finishes items, whose jobs differ, in one transaction, and returns their
// errors, or the transaction's error. It runs a statement that saves the jobs, one that logs
// the attempts and those that save the users in one round trip; then, if some jobs were not
// saved, one more that tells those whose lease was lost from those that do not exist.
func (s *Store) finishAll(ctx context.Context, items []webhook.Finished) ([]error, error) {
	errs := make([]error, len(items))
	jobArgs, log, err := finishArgs(items)
	if err != nil {
		return errs, unsent{err}
	}
	// The users the attempts updated are saved in the same transaction (see Finished.User).
	var users []webhook.UserUpdate
	var usersAt []time.Time
	for _, f := range items {
		if f.User != nil && f.Attempt != nil {
			users, usersAt = append(users, *f.User), append(usersAt, f.Attempt.Time)
		}
	}
	userStmts, err := putUsersStmts(users, func(i int) time.Time { return usersAt[i] })
	if err != nil {
		return errs, unsent{err}
	}
	stmts := []stmt{{finishJobsSQL, jobArgs}}
	if log != nil {
		stmts = append(stmts, *log)
	}
	saved := make(map[string]bool, len(items))
	err = s.batch(ctx, hotSettings, append(stmts, userStmts...), func(n int, rows pgx.Rows) error {
		if n > 0 {
			rows.Close()
			return rows.Err()
		}
		var id string
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			saved[id] = true
			return nil
		})
		return err
	})
	if err != nil || len(saved) == len(items) {
		return errs, err
	}
	var lost []string
	for _, f := range items {
		if !saved[f.Job.ID] {
			lost = append(lost, f.Job.ID)
		}
	}
	rows, err := s.db.Query(ctx, `SELECT id FROM webhook_jobs WHERE id = ANY ($1)`, lost)
	if err != nil {
		return errs, err
	}
	exists := make(map[string]bool, len(lost))
	var id string
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		exists[id] = true
		return nil
	}); err != nil {
		return errs, err
	}
	for i, f := range items {
		switch id := f.Job.ID; {
		case saved[id]:
		case exists[id]:
			errs[i] = fmt.Errorf("pgstore: finish %q: %w", id, webhook.ErrLeaseLost)
		default:
			errs[i] = fmt.Errorf("pgstore: finish %q: %w", id, webhook.ErrNotFound)
		}
	}
	return errs, nil
}

// UpdateJobs implements [webhook.JobStore], in one statement: a job moved to JobCancelled
// gets its attempt in the same statement. It notifies listeners (see [Store.Notifications])
// when it moves jobs to JobScheduled, on commit, since they may be due. The statement
// finds the jobs by the index that p.Filter names: by ID, or the pending jobs of a user with
// an Unless event, of a user, or of a message.
func (s *Store) UpdateJobs(ctx context.Context, p webhook.UpdateJobsParams) ([]*webhook.Job, error) {
	const op = "update jobs"
	f := &p.Filter
	switch {
	case len(f.IDs) == 0 && f.MessageID == "" && f.UserID == "":
		return nil, invalid(op, "the filter names no job IDs, message or user")
	case slices.Contains(p.From, webhook.JobRunning):
		return nil, invalid(op, "from: running jobs cannot be moved")
	case p.To == webhook.JobRunning || !p.To.Valid():
		return nil, invalid(op, "to: jobs cannot be moved to state %q", p.To)
	}
	var args params
	where, ok := jobWhere(f, p.From, &args)
	if !ok || len(p.From) == 0 {
		return []*webhook.Job{}, nil
	}
	set := `state = ` + args.add(string(p.To))
	switch p.To {
	case webhook.JobScheduled:
		if !p.DueAt.IsZero() {
			set += `, due_at = ` + args.add(p.DueAt)
		}
	case webhook.JobCancelled:
		set += `, request = NULL`
	}
	sql := moveSQL(where, set, qualifiedJobColumns)
	if p.To == webhook.JobCancelled {
		sql += `, logged AS (
			INSERT INTO webhook_attempts (job_id, message_id, message_version, user_id, number, time,
				duration, method, url, status_code, error, outcome, variant)
			SELECT id, message_id, message_version, user_id, attempts + 1, ` + args.add(p.Now) + `,
				0, '', '', 0, ` + args.add(p.Reason) + `, '` + string(webhook.Cancelled) + `', variant
			FROM moved ORDER BY id
		)`
	}
	stmts := []stmt{{sql + ` SELECT ` + jobColumns + ` FROM moved ORDER BY id`, args}}
	if p.To == webhook.JobScheduled {
		stmts = append(stmts, stmt{sql: notifySQL})
	}
	var jobs []*webhook.Job
	err := s.batch(ctx, planSettings, stmts, func(i int, rows pgx.Rows) error {
		if i == 1 {
			rows.Close()
			return rows.Err()
		}
		var err error
		jobs, err = collect(rows, scanJob)
		return err
	})
	return jobs, wrap(op, err)
}

// Jobs implements [webhook.JobStore].
func (s *Store) Jobs(ctx context.Context, q webhook.JobQuery) ([]*webhook.Job, error) {
	var args params
	where, ok := jobWhere(&q.JobFilter, q.States, &args)
	if !ok {
		return []*webhook.Job{}, nil
	}
	sql := `SELECT ` + jobColumns + ` FROM webhook_jobs WHERE ` + where + ` AND id > ` + args.add(q.After) + ` ORDER BY id`
	if q.Limit > 0 {
		sql += ` LIMIT ` + args.add(q.Limit)
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap("jobs", err)
	}
	jobs, err := collect(rows, scanJob)
	return jobs, wrap("jobs", err)
}

// jobWhere returns the condition on webhook_jobs that selects the jobs of f in one of states
// (any state if it is empty), with its arguments added to args, or false if it selects none.
// Only the filter's values are arguments: which fields it sets, and the states, are written
// into the statement, so that PostgreSQL plans each kind of filter apart, by the index that
// serves it (the partial ones on pending jobs among them).
func jobWhere(f *webhook.JobFilter, states []webhook.JobState, args *params) (string, bool) {
	conds := []string{"true"}
	if len(f.IDs) > 0 {
		conds = append(conds, `id = ANY (`+args.add(f.IDs)+`)`)
	}
	if f.MessageID != "" {
		conds = append(conds, `message_id = `+args.add(f.MessageID))
	}
	if f.UserID != "" {
		conds = append(conds, `user_id = `+args.add(f.UserID))
	}
	if f.Unless != "" {
		conds = append(conds, `unless = `+args.add(f.Unless)+` AND unless <> ''`)
	}
	if !f.CreatedBefore.IsZero() {
		conds = append(conds, `created_at < `+args.add(ceilMicro(f.CreatedBefore)))
	}
	if len(states) > 0 {
		known := literals(states, webhook.JobState.Valid)
		if known == "" {
			return "", false
		}
		conds = append(conds, `state IN `+known)
	}
	return strings.Join(conds, " AND "), true
}
