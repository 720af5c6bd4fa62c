// Package pgstore is a [webhook.Store] on PostgreSQL (pgx v5), for many app instances sharing
// one delivery queue on a database they already run.
//
// # Setup
//
// Open a *pgxpool.Pool, pass it to [New], and call [Store.Migrate] once at start-up (it is
// safe to call from several instances at once). The Store keeps its tables, all named
// webhook_*, in the first schema of the connections' search_path; to keep them in a schema
// of their own, set search_path in the pool's config:
//
//	cfg, _ := pgxpool.ParseConfig(dsn)
//	cfg.ConnConfig.RuntimeParams["search_path"] = "webhooks"
//
// # Many instances
//
// Any number of Senders, in one process or many, may share one database. Claims take rows
// with FOR UPDATE SKIP LOCKED, so each delivery is leased to one Sender at a time, and an
// enqueue sends a NOTIFY in its transaction, so every Sender listening (see
// [Store.Notifications]) looks for work as soon as it commits instead of at its next poll.
//
// # Transactional trigger
//
// [Store.WithTx] returns a Store that writes through the caller's pgx.Tx. Pass it to
// [webhook.Sender.TriggerTx] to record an event and enqueue its deliveries in the app's own
// transaction: they are sent if and only if that transaction commits (the outbox pattern).
//
// # Data
//
// Users and messages are kept as JSONB, maps read back through [webhook.Map]'s UnmarshalJSON,
// so values round-trip as the Sender made them. Times in columns keep PostgreSQL's
// microsecond resolution. Text cannot hold NUL characters in PostgreSQL, in JSONB strings
// either: a value with one is refused with an error. Response bodies are kept as bytea, so
// any bytes a receiver returns are logged as they came.
package pgstore

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is a [webhook.Store] on PostgreSQL. Its zero value is not usable; call [New]. A Store
// is safe for concurrent use, and any number of Stores, in one process or many, may share a
// database.
type Store struct {
	db    querier // the pool, or the transaction of a WithTx view
	pool  *pgxpool.Pool
	async string // an SQL expression that makes the commit asynchronous, or NULL in a view
}

// asyncCommit makes the current transaction's commit asynchronous, as SET LOCAL does.
const asyncCommit = `set_config('synchronous_commit', 'off', true)`

var (
	_ webhook.Store    = (*Store)(nil)
	_ webhook.Notifier = (*Store)(nil)
)

// querier is what the Store needs of a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// New returns a Store on the database pool connects to; pool must not be nil. The caller owns
// pool and closes it after the Store's last use. Call [Store.Migrate] before first use. Each
// started Sender on the Store holds one connection of the pool for LISTEN (see
// [Store.Notifications]) and uses up to Config.Workers more.
func New(pool *pgxpool.Pool) *Store {
	return &Store{db: pool, pool: pool, async: asyncCommit}
}

// WithTx returns a Store that reads and writes through tx, so that its changes commit or roll
// back with tx: a view of s for one transaction, for [webhook.Sender.TriggerTx]. Deliveries
// it enqueues become visible to Senders, and wake them, when tx commits. The view is good
// until tx ends, and like tx it must not be used by two goroutines at once.
func (s *Store) WithTx(tx pgx.Tx) *Store {
	return &Store{db: tx, pool: s.pool, async: "NULL"}
}

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or updates the Store's tables in the first schema of the search_path,
// applying each embedded migration not applied yet, in one transaction. Several instances may
// call it at once: an advisory lock makes them take turns. It returns an error if a migration
// fails, in which case nothing was changed.
func (s *Store) Migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	slices.Sort(files)
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.webhook_migrations'))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS webhook_migrations (
			version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		for _, name := range files {
			base := strings.TrimPrefix(name, "migrations/")
			version, err := strconv.Atoi(base[:strings.IndexByte(base, '_')])
			if err != nil {
				return fmt.Errorf("migration %s: bad name", base)
			}
			tag, err := tx.Exec(ctx, `INSERT INTO webhook_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING`, version)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // applied before
			}
			sql, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("migration %s: %w", base, err)
			}
		}
		return nil
	})
	return wrap("migrate", err)
}

// wrap prefixes err with the package and op, and translates "no rows" into
// webhook.ErrNotFound. It returns nil if err is nil.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pgstore: %s: %w", op, webhook.ErrNotFound)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// PutUser implements [webhook.UserStore].
func (s *Store) PutUser(ctx context.Context, u webhook.User) error {
	data, err := json.Marshal(u)
	if err == nil {
		_, err = s.db.Exec(ctx, `INSERT INTO webhook_users (id, data) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data`, u.ID, data)
	}
	return wrap("put user", err)
}

// User implements [webhook.UserStore].
func (s *Store) User(ctx context.Context, id string) (webhook.User, error) {
	var u webhook.User
	var data []byte
	err := s.db.QueryRow(ctx, `SELECT data FROM webhook_users WHERE id = $1`, id).Scan(&data)
	if err == nil {
		err = json.Unmarshal(data, &u)
	}
	return u, wrap("user", err)
}

// Users implements [webhook.UserStore].
func (s *Store) Users(ctx context.Context, after string, limit int) ([]webhook.User, error) {
	rows, err := s.db.Query(ctx, `SELECT data FROM webhook_users WHERE id > $1 ORDER BY id LIMIT $2`, after, max(limit, 0))
	if err != nil {
		return nil, wrap("users", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (webhook.User, error) {
		var u webhook.User
		var data []byte
		if err := row.Scan(&data); err != nil {
			return u, err
		}
		return u, json.Unmarshal(data, &u)
	})
	return users, wrap("users", err)
}

// enqueueCTE inserts the jobs given as arrays in $1 to $12, the first of each key winning,
// and notifies listeners if any was new. Statements that use it go on with a SELECT.
const enqueueCTE = `WITH new_jobs AS (
	INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, event, params,
		state, attempts, created_at, due_at, request, unless)
	SELECT id, key, message_id, message_version, user_id, event, params, 'scheduled', attempts,
		created_at, due_at, request, unless
	FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::jsonb[],
		$7::jsonb[], $8::int[], $9::timestamptz[], $10::timestamptz[], $11::jsonb[], $12::text[])
		WITH ORDINALITY AS j(id, key, message_id, message_version, user_id, event, params,
			attempts, created_at, due_at, request, unless, n)
	ORDER BY n
	ON CONFLICT DO NOTHING
	RETURNING 1
)`

// notifySelect ends a statement that began with enqueueCTE.
const notifySelect = ` SELECT pg_notify('` + channel + `', current_schema()) WHERE EXISTS (SELECT FROM new_jobs)`

// enqueueArgs returns the arguments of enqueueCTE for jobs.
func enqueueArgs(jobs []*webhook.Job) ([]any, error) {
	n := len(jobs)
	var (
		ids, keys, msgs, users = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		unless                 = make([]string, n)
		versions, attempts     = make([]int32, n), make([]int32, n)
		events, params, reqs   = make([][]byte, n), make([][]byte, n), make([][]byte, n)
		created, due           = make([]time.Time, n), make([]time.Time, n)
	)
	for i, j := range jobs {
		ids[i], keys[i], msgs[i], users[i] = j.ID, j.Key, j.MessageID, j.UserID
		versions[i], attempts[i] = int32(j.MessageVersion), int32(j.Attempts)
		created[i], due[i], unless[i] = j.CreatedAt, j.DueAt, j.Unless
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
	}
	return []any{ids, keys, msgs, versions, users, events, params, attempts, created, due, reqs, unless}, nil
}

// marshal returns the JSON encoding of v, or nil (SQL NULL) if v is a nil pointer or map.
func marshal[T any](v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if string(b) == "null" {
		return nil, err
	}
	return b, err
}

// unmarshal decodes JSON b into v, leaving v as it is if b is NULL.
func unmarshal(b []byte, v any) error {
	if b == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

// Enqueue implements [webhook.DeliveryStore]. It notifies listeners (see
// [Store.Notifications]) when a job is new, on commit.
func (s *Store) Enqueue(ctx context.Context, jobs []*webhook.Job) error {
	args, err := enqueueArgs(jobs)
	if err == nil {
		_, err = s.db.Exec(ctx, enqueueCTE+notifySelect, args...)
	}
	return wrap("enqueue", err)
}

// AddEvent implements [webhook.EventStore]: the event and its jobs are saved by one
// statement, so together.
func (s *Store) AddEvent(ctx context.Context, e webhook.Event, jobs []*webhook.Job) error {
	args, err := enqueueArgs(jobs)
	if err != nil {
		return wrap("add event", err)
	}
	params, err := marshal(e.Params)
	if err != nil {
		return wrap("add event", err)
	}
	args = append(args, e.ID, e.UserID, e.Name, params, e.Time)
	_, err = s.db.Exec(ctx, enqueueCTE+`, new_event AS (
		INSERT INTO webhook_events (id, user_id, name, params, time) VALUES ($13, $14, $15, $16, $17)
	)`+notifySelect, args...)
	return wrap("add event", err)
}

// PutMessage implements [webhook.MessageStore]. Saves of one message take turns.
func (s *Store) PutMessage(ctx context.Context, m *webhook.Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return wrap("put message", err)
	}
	var event *string
	if m.Delivery.Kind == webhook.Triggered {
		event = &m.Delivery.Event
	}
	var version int
	err = s.db.QueryRow(ctx, `WITH head AS (
		INSERT INTO webhook_message_heads (id, version) VALUES ($1, 1)
		ON CONFLICT (id) DO UPDATE SET version = webhook_message_heads.version + 1
		RETURNING version
	)
	INSERT INTO webhook_messages (id, version, trigger_event, data)
	SELECT $1, version, $2, $3 FROM head
	RETURNING version`, m.ID, event, data).Scan(&version)
	if err != nil {
		return wrap("put message", err)
	}
	m.Version = version
	return nil
}

// Message implements [webhook.MessageStore].
func (s *Store) Message(ctx context.Context, id string, version int) (*webhook.Message, error) {
	row := s.db.QueryRow(ctx, `SELECT data, version FROM webhook_messages
		WHERE id = $1 AND version = coalesce(nullif($2, 0), (SELECT version FROM webhook_message_heads WHERE id = $1))`,
		id, version)
	m, err := scanMessage(row)
	return m, wrap("message", err)
}

// TriggeredMessages implements [webhook.MessageStore].
func (s *Store) TriggeredMessages(ctx context.Context, event string) ([]*webhook.Message, error) {
	rows, err := s.db.Query(ctx, `SELECT m.data, m.version FROM webhook_message_heads h
		JOIN webhook_messages m ON m.id = h.id AND m.version = h.version
		WHERE m.trigger_event = $1 ORDER BY m.id`, event)
	if err != nil {
		return nil, wrap("triggered messages", err)
	}
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*webhook.Message, error) { return scanMessage(row) })
	return msgs, wrap("triggered messages", err)
}

func scanMessage(row pgx.Row) (*webhook.Message, error) {
	var data []byte
	m := new(webhook.Message)
	if err := row.Scan(&data, &m.Version); err != nil {
		return nil, err
	}
	version := m.Version
	if err := json.Unmarshal(data, m); err != nil {
		return nil, err
	}
	m.Version = version
	return m, nil
}

// jobColumns are the columns scanJob reads, in order.
const jobColumns = `id, key, message_id, message_version, user_id, event, params, state, attempts,
	created_at, due_at, lease_owner, lease_expires_at, request, unless`

// scanJob reads a job from jobColumns.
func scanJob(row pgx.Row) (*webhook.Job, error) {
	j := new(webhook.Job)
	var event, params, req []byte
	var expires *time.Time
	if err := row.Scan(&j.ID, &j.Key, &j.MessageID, &j.MessageVersion, &j.UserID, &event, &params,
		&j.State, &j.Attempts, &j.CreatedAt, &j.DueAt, &j.LeaseOwner, &expires, &req, &j.Unless); err != nil {
		return nil, err
	}
	if expires != nil {
		j.LeaseExpiresAt = *expires
	}
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

// claimed is a claimed job and the time it was due, by which claims are ordered.
type claimed struct {
	due time.Time
	job *webhook.Job
}

// Claim implements [webhook.DeliveryStore]. It locks the due jobs it takes with FOR UPDATE
// SKIP LOCKED, so concurrent claimers take different jobs without waiting for each other.
//
// Claim and [Store.Finish] commit asynchronously (synchronous_commit off, for their own
// transactions only): they do not wait for the disk. If the database server crashes, it
// may forget the last claims and finishes, which are then made again: a delivery may be sent
// twice, with the same webhook-id, but none is lost. Enqueues and everything else wait for
// the disk as the server's settings say. Through a [Store.WithTx] view, they leave the
// transaction's commit as it is.
func (s *Store) Claim(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*webhook.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The limit is written into the statement, not passed as a parameter: PostgreSQL then
	// plans it once per limit and connection and reuses the plan (with a parameter it
	// guesses a tenth of the table, so it plans every claim anew or falls back to a plan that
	// reads the whole table). The second condition on j.id makes the update find the jobs by
	// their primary key whatever the planner guesses of the CTE's size.
	rows, err := s.db.Query(ctx, `WITH due AS (
		SELECT id, ready_at FROM webhook_jobs
		WHERE ready_at <= $1
		ORDER BY ready_at, id
		LIMIT `+strconv.Itoa(limit)+`
		FOR UPDATE SKIP LOCKED
	)
	UPDATE webhook_jobs j SET state = 'running', lease_owner = $2, lease_expires_at = $3
	FROM due WHERE j.id = due.id AND j.id = ANY (ARRAY (SELECT id FROM due))
	RETURNING due.ready_at, `+s.async+`, j.id, j.key, j.message_id, j.message_version, j.user_id, j.event,
		j.params, j.state, j.attempts, j.created_at, j.due_at, j.lease_owner, j.lease_expires_at, j.request, j.unless`,
		now, owner, now.Add(lease))
	if err != nil {
		return nil, wrap("claim", err)
	}
	got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var c claimed
		var err error
		c.job, err = scanJob(scanPrefix{row, []any{&c.due, nil}})
		return c, err
	})
	if err != nil {
		return nil, wrap("claim", err)
	}
	slices.SortFunc(got, func(a, b claimed) int {
		return cmp.Or(a.due.Compare(b.due), cmp.Compare(a.job.ID, b.job.ID))
	})
	jobs := make([]*webhook.Job, len(got))
	for i, c := range got {
		jobs[i] = c.job
	}
	return jobs, nil
}

// scanPrefix is a row whose first columns go to prefix and the rest to the Scan call's
// arguments.
type scanPrefix struct {
	pgx.Row
	prefix []any
}

func (r scanPrefix) Scan(dest ...any) error {
	return r.Row.Scan(append(r.prefix, dest...)...)
}

// finishUpdate saves a job still leased to its owner ($1 to $6); finishResult says whether it
// did and whether the job exists. Statements that use it insert the attempt in between.
const (
	finishUpdate = `WITH updated AS (
		UPDATE webhook_jobs SET state = $3, attempts = $4, due_at = $5, request = $6,
			lease_owner = '', lease_expires_at = NULL
		WHERE id = $1 AND state = 'running' AND lease_owner = $2
		RETURNING 1
	)`
	finishResult = ` SELECT EXISTS (SELECT FROM updated), EXISTS (SELECT FROM webhook_jobs WHERE id = $1), `
	finishInsert = `, attempt AS (
		INSERT INTO webhook_attempts (delivery_id, message_id, message_version, user_id, number,
			time, duration, method, url, request_header, request_body, status_code, response_header,
			response_body, error, outcome, next_attempt_at, ignore_caps)
		VALUES ($7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
	)`
)

// Finish implements [webhook.DeliveryStore], in one statement that commits asynchronously
// (see [Store.Claim]).
func (s *Store) Finish(ctx context.Context, j *webhook.Job, a *webhook.Attempt) error {
	req, err := marshal(j.Request)
	if err != nil {
		return wrap("finish", err)
	}
	sql := finishUpdate + finishResult + s.async
	args := []any{j.ID, j.LeaseOwner, string(j.State), j.Attempts, j.DueAt, req}
	if a != nil {
		reqHeader, err := marshal(a.RequestHeader)
		if err != nil {
			return wrap("finish", err)
		}
		respHeader, err := marshal(a.ResponseHeader)
		if err != nil {
			return wrap("finish", err)
		}
		var next *time.Time
		if !a.NextAttemptAt.IsZero() {
			next = &a.NextAttemptAt
		}
		sql = finishUpdate + finishInsert + finishResult + s.async
		args = append(args, a.DeliveryID, a.MessageID, a.MessageVersion, a.UserID, a.Number,
			a.Time, int64(a.Duration), a.Method, a.URL, reqHeader, []byte(a.RequestBody), a.StatusCode,
			respHeader, []byte(a.ResponseBody), a.Err, string(a.Outcome), next, a.IgnoreCaps)
	}
	var saved, exists bool
	if err := s.db.QueryRow(ctx, sql, args...).Scan(&saved, &exists, nil); err != nil {
		return wrap("finish", err)
	}
	switch {
	case saved:
		return nil
	case !exists:
		return fmt.Errorf("pgstore: finish %q: %w", j.ID, webhook.ErrNotFound)
	}
	return fmt.Errorf("pgstore: finish %q: %w", j.ID, webhook.ErrLeaseLost)
}

// NextDue implements [webhook.DeliveryStore].
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next *time.Time
	if err := s.db.QueryRow(ctx, `SELECT min(ready_at) FROM webhook_jobs`).Scan(&next); err != nil || next == nil {
		return time.Time{}, false, wrap("next due", err)
	}
	return *next, true, nil
}

// Job implements [webhook.DeliveryStore].
func (s *Store) Job(ctx context.Context, id string) (*webhook.Job, error) {
	j, err := scanJob(s.db.QueryRow(ctx, `SELECT `+jobColumns+` FROM webhook_jobs WHERE id = $1`, id))
	return j, wrap("job", err)
}

// Cancel implements [webhook.DeliveryStore].
func (s *Store) Cancel(ctx context.Context, f webhook.JobFilter) ([]*webhook.Job, error) {
	if f.MessageID == "" && f.UserID == "" {
		return nil, fmt.Errorf("%w: pgstore: cancel needs a message or user ID", webhook.ErrInvalid)
	}
	var before *time.Time
	if !f.CreatedBefore.IsZero() {
		before = &f.CreatedBefore
	}
	rows, err := s.db.Query(ctx, `UPDATE webhook_jobs SET state = 'cancelled'
		WHERE state IN ('scheduled', 'held') AND ($1 = '' OR message_id = $1) AND ($2 = '' OR user_id = $2)
			AND ($3::timestamptz IS NULL OR created_at < $3) AND ($4 = '' OR unless = $4)
		RETURNING `+jobColumns, f.MessageID, f.UserID, before, f.Unless)
	if err != nil {
		return nil, wrap("cancel", err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*webhook.Job, error) { return scanJob(row) })
	if err != nil {
		return nil, wrap("cancel", err)
	}
	slices.SortFunc(jobs, func(a, b *webhook.Job) int { return cmp.Compare(a.ID, b.ID) })
	return jobs, nil
}

// Attempts implements [webhook.AttemptStore].
func (s *Store) Attempts(ctx context.Context, f webhook.AttemptFilter) ([]webhook.Attempt, error) {
	rows, err := s.db.Query(ctx, `SELECT delivery_id, message_id, message_version, user_id, number,
			time, duration, method, url, request_header, request_body, status_code, response_header,
			response_body, error, outcome, next_attempt_at, ignore_caps
		FROM webhook_attempts
		WHERE ($1 = '' OR message_id = $1) AND ($2 = '' OR user_id = $2) AND ($3 = '' OR delivery_id = $3)
		ORDER BY time DESC, seq DESC
		LIMIT nullif($4, 0)`, f.MessageID, f.UserID, f.DeliveryID, max(f.Limit, 0))
	if err != nil {
		return nil, wrap("attempts", err)
	}
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (webhook.Attempt, error) {
		var a webhook.Attempt
		var reqHeader, respHeader, reqBody, respBody []byte
		var duration int64
		var next *time.Time
		if err := row.Scan(&a.DeliveryID, &a.MessageID, &a.MessageVersion, &a.UserID, &a.Number,
			&a.Time, &duration, &a.Method, &a.URL, &reqHeader, &reqBody, &a.StatusCode, &respHeader,
			&respBody, &a.Err, &a.Outcome, &next, &a.IgnoreCaps); err != nil {
			return a, err
		}
		a.Duration, a.RequestBody, a.ResponseBody = time.Duration(duration), string(reqBody), string(respBody)
		if next != nil {
			a.NextAttemptAt = *next
		}
		if err := unmarshal(reqHeader, &a.RequestHeader); err != nil {
			return a, err
		}
		return a, unmarshal(respHeader, &a.ResponseHeader)
	})
	return as, wrap("attempts", err)
}
