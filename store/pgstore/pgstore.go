// Package pgstore is a [webhook.Store] on PostgreSQL (pgx v5), for many app instances sharing
// one job queue on a database they already run.
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
// with FOR UPDATE SKIP LOCKED, so each job is leased to one Sender at a time, and an
// enqueue sends a NOTIFY in its transaction, so every Sender listening (see
// [Store.Notifications]) looks for work as soon as it commits instead of at its next poll.
//
// # Transactional trigger
//
// [Store.WithTx] returns a Store that writes through the caller's pgx.Tx. Pass it to
// [webhook.Sender.TriggerTx] to record an event and enqueue its jobs in the app's own
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
	"github.com/hookline/webhook/internal/groupcommit"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is a [webhook.Store] on PostgreSQL. Its zero value is not usable; call [New]. A Store
// is safe for concurrent use, and any number of Stores, in one process or many, may share a
// database.
type Store struct {
	db   querier // the pool, or the transaction of a WithTx view
	pool *pgxpool.Pool
	view bool // whether db is a WithTx view's transaction

	// enqueues, finishes, users and messages merge concurrent Enqueue, Finish, User and
	// Message calls; nil in a view, which runs each call by itself in its transaction.
	enqueues *groupcommit.Group[[]*webhook.Job]
	finishes *groupcommit.Group[finishing]
	users    *groupcommit.Group[*userRead]
	messages *groupcommit.Group[*messageRead]
}

// hotSettings are set, for its transaction only, before each of the statements the
// job path runs most (claims, finishes, and the lookups of users and messages) that
// has a transaction of its own (outside a view), in the same round trip:
//
//   - The commit is asynchronous (see [Store.Claim]); lookups write nothing to commit.
//   - The statement runs with the plan made when it was first prepared on the connection.
//     PostgreSQL otherwise plans statements on arrays anew each time (its reusable plan
//     assumes longer arrays than most batches, so looks dearer than a plan for the batch at
//     hand), and planning costs more than running them.
//   - That plan reads by indexes even if the tables were empty when it was made, as they
//     are on a new or drained queue, where a sequential scan looks cheaper; it would then be
//     kept as the queue grows, and read the whole queue on every claim.
const hotSettings = `SELECT set_config('synchronous_commit', 'off', true),
	set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)`

var (
	_ webhook.Store         = (*Store)(nil)
	_ webhook.Notifier      = (*Store)(nil)
	_ webhook.AttemptPruner = (*Store)(nil)
)

// querier is what the Store needs of a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// New returns a Store on the database pool connects to; pool must not be nil. The caller owns
// pool and closes it after the Store's last use. Call [Store.Migrate] before first use.
//
// Each started Sender on the Store listens on one connection (see [Store.Notifications]),
// which it takes out of the pool: the pool no longer counts it and may open another in its
// place, so that the server may see, for each listening Sender, one connection more than the
// pool's size. Its other calls use up to Config.Workers of the pool's connections, and most
// need far fewer: concurrent Enqueue, Finish, User and Message calls on one Store are merged
// into one statement each (see [Store.Enqueue]), so each of these uses one connection at a
// time however many goroutines call it, and the job path ran as fast on a pool of 4
// connections as on one of 20 with 16 workers. pgxpool's default size (4, or the number of
// CPUs if more) is enough for the Store; add what the app itself needs.
func New(pool *pgxpool.Pool) *Store {
	s := &Store{db: pool, pool: pool}
	s.enqueues = newGroup(s.enqueueBatch)
	s.finishes = newGroup(s.finishBatch)
	s.users = newGroup(s.readUsers)
	s.messages = newGroup(s.readMessages)
	return s
}

// WithTx returns a Store that reads and writes through tx, so that its changes commit or roll
// back with tx: a view of s for one transaction, for [webhook.Sender.TriggerTx]. Jobs
// it enqueues become visible to Senders, and wake them, when tx commits. The view is good
// until tx ends, and like tx it must not be used by two goroutines at once.
func (s *Store) WithTx(tx pgx.Tx) *Store {
	return &Store{db: tx, pool: s.pool, view: true}
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

// User implements [webhook.UserStore]. Calls made at the same time share a statement: while
// one runs, the calls that arrive wait, and then run together.
func (s *Store) User(ctx context.Context, id string) (webhook.User, error) {
	r := &userRead{id: id}
	err := do(ctx, s.users, s.readUsers, r)
	return r.user, wrap("user", err)
}

// userRead is a User call: the ID asked for, and the user read.
type userRead struct {
	id   string
	user webhook.User
}

// readUsers reads the users of rs in one statement and returns an error for each that it
// could not read. In it and readMessages, a LATERAL subquery with OFFSET 0, which PostgreSQL
// does not merge into a join, looks each ID up by the primary key as a lookup of one would,
// even in a plan kept from when the table was small and a hash join over a sequential scan
// looked cheaper.
func (s *Store) readUsers(ctx context.Context, rs []*userRead) []error {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	return lookup(ctx, s, `SELECT q.n, u.data FROM unnest($1::text[]) WITH ORDINALITY AS q(id, n)
		CROSS JOIN LATERAL (SELECT data FROM webhook_users WHERE id = q.id OFFSET 0) u`, []any{ids},
		len(rs), scanUser, func(i int, u webhook.User) { rs[i].user = u })
}

// scanUser reads a user from its data column.
func scanUser(row pgx.Row) (webhook.User, error) {
	var u webhook.User
	var data []byte
	if err := row.Scan(&data); err != nil {
		return u, err
	}
	return u, json.Unmarshal(data, &u)
}

// lookup runs a statement that looks up n things at once, with s.hotQuery. Each row's first
// column is the number (from 1) of the thing it is; scan reads the rest, and set(i, v) keeps
// what it read for thing i (from 0). It returns an error for each thing: scan's,
// pgx.ErrNoRows for one without a row, or the statement's for all if it failed.
func lookup[T any](ctx context.Context, s *Store, sql string, args []any, n int, scan func(pgx.Row) (T, error), set func(i int, v T)) []error {
	errs := make([]error, n)
	found := make([]bool, n)
	err := s.hotQuery(ctx, sql, args, func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var i int
			v, err := scan(scanPrefix{rows, []any{&i}})
			if i < 1 || i > n {
				return cmp.Or(err, fmt.Errorf("row for lookup %d of %d", i, n))
			}
			set(i-1, v)
			found[i-1], errs[i-1] = true, err
		}
		return rows.Err()
	})
	for i := range errs {
		switch {
		case err != nil:
			errs[i] = err
		case !found[i]:
			errs[i] = pgx.ErrNoRows
		}
	}
	return errs
}

// Users implements [webhook.UserStore].
func (s *Store) Users(ctx context.Context, after string, limit int) ([]webhook.User, error) {
	rows, err := s.db.Query(ctx, `SELECT data FROM webhook_users WHERE id > $1 ORDER BY id LIMIT $2`, after, max(limit, 0))
	if err != nil {
		return nil, wrap("users", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (webhook.User, error) { return scanUser(row) })
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
//
// Calls made at the same time share a statement and a commit: while one commit waits for
// the disk, the calls that arrive wait too, and then commit together. Each returns once its
// jobs are committed as durably as the server's synchronous_commit says. A call whose jobs
// have begun to commit waits for the commit even if ctx ends; the shared statement is
// cancelled only once the contexts of all the calls that share it have ended.
func (s *Store) Enqueue(ctx context.Context, jobs []*webhook.Job) error {
	return wrap("enqueue", do(ctx, s.enqueues, s.enqueueBatch, jobs))
}

// enqueue enqueues jobs in one statement.
func (s *Store) enqueue(ctx context.Context, jobs []*webhook.Job) error {
	args, err := enqueueArgs(jobs)
	if err == nil {
		_, err = s.db.Exec(ctx, enqueueCTE+notifySelect, args...)
	}
	return err
}

// enqueueBatch enqueues the jobs of several Enqueue calls in one statement, in order, or,
// if that fails, each call's in a statement of its own.
func (s *Store) enqueueBatch(ctx context.Context, calls [][]*webhook.Job) []error {
	if len(calls) > 1 && s.enqueue(ctx, slices.Concat(calls...)) == nil {
		return make([]error, len(calls))
	}
	return eachAlone(ctx, calls, s.enqueue)
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

// Message implements [webhook.MessageStore]. Calls made at the same time share a statement,
// as User's do.
func (s *Store) Message(ctx context.Context, id string, version int) (*webhook.Message, error) {
	r := &messageRead{id: id, version: version}
	if err := do(ctx, s.messages, s.readMessages, r); err != nil {
		return nil, wrap("message", err)
	}
	return r.msg, nil
}

// messageRead is a Message call: the ID and version asked for, and the message read.
type messageRead struct {
	id      string
	version int
	msg     *webhook.Message
}

// readMessages reads the messages of rs in one statement and returns an error for each that
// it could not read.
func (s *Store) readMessages(ctx context.Context, rs []*messageRead) []error {
	ids, versions := make([]string, len(rs)), make([]int32, len(rs))
	for i, r := range rs {
		ids[i], versions[i] = r.id, int32(r.version)
	}
	return lookup(ctx, s, `SELECT q.n, m.data, m.version
		FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS q(id, version, n)
		CROSS JOIN LATERAL (SELECT data, version FROM webhook_messages WHERE id = q.id AND version =
			coalesce(nullif(q.version, 0), (SELECT version FROM webhook_message_heads WHERE id = q.id))
			OFFSET 0) m`,
		[]any{ids, versions}, len(rs), scanMessage, func(i int, m *webhook.Message) { rs[i].msg = m })
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

// scanMessage reads a message from its data and version columns.
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
// may forget the last claims and finishes, which are then made again: a job may be sent
// twice, with the same webhook-id, but none is lost. Enqueues and everything else wait for
// the disk as the server's settings say. Through a [Store.WithTx] view, they leave the
// transaction's commit as it is.
func (s *Store) Claim(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*webhook.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The limit is written into the statement, not passed as a parameter, so that the plan
	// kept for it (see hotSettings) is made for that limit. The second condition on j.id
	// makes the update find the jobs by their primary key whatever the planner guesses of
	// the CTE's size. The CTE's columns are named apart from the table's, so that
	// jobColumns name the updated job's.
	var got []claimed
	err := s.hotQuery(ctx, `WITH due AS (
		SELECT id AS due_id, ready_at AS was_ready FROM webhook_jobs
		WHERE ready_at <= $1
		ORDER BY ready_at, id
		LIMIT `+strconv.Itoa(limit)+`
		FOR UPDATE SKIP LOCKED
	)
	UPDATE webhook_jobs j SET state = 'running', lease_owner = $2, lease_expires_at = $3
	FROM due WHERE j.id = due.due_id AND j.id = ANY (ARRAY (SELECT due_id FROM due))
	RETURNING due.was_ready, `+jobColumns,
		[]any{now, owner, now.Add(lease)}, func(rows pgx.Rows) error {
			var err error
			got, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
				var c claimed
				var err error
				c.job, err = scanJob(scanPrefix{row, []any{&c.due}})
				return c, err
			})
			return err
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

// hotQuery runs a statement of the job path and passes its rows to f, which must close
// them. Outside a view the statement runs after hotSettings, in the same round trip.
func (s *Store) hotQuery(ctx context.Context, sql string, args []any, f func(pgx.Rows) error) error {
	if s.view {
		rows, err := s.db.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		return f(rows)
	}
	b := new(pgx.Batch)
	b.Queue(hotSettings)
	b.Queue(sql, args...)
	results := s.db.SendBatch(ctx, b)
	_, err := results.Exec()
	if err == nil {
		var rows pgx.Rows
		if rows, err = results.Query(); err == nil {
			err = f(rows)
		}
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	return err
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

// attemptColumns are the columns of an attempt that Finish writes and Attempts reads, in
// order.
const attemptColumns = `delivery_id, message_id, message_version, user_id, number, time,
	duration, method, url, request_header, request_body, status_code, response_header,
	response_body, error, outcome, next_attempt_at, ignore_caps`

// finishSQL saves jobs still leased to their owners (the arrays $1 to $6, one element per
// job) and appends attempts (the arrays $7 to $24, one element per attempt), in order. It
// returns a row per job, in order: whether it was saved and whether it exists. Both look
// the jobs up by id = ANY($1), which the primary key answers whatever the planner guesses
// of the arrays' lengths.
const finishSQL = `WITH f AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::jsonb[])
		WITH ORDINALITY AS f(id, owner, state, attempts, due_at, request, n)
), updated AS (
	UPDATE webhook_jobs j SET state = f.state, attempts = f.attempts, due_at = f.due_at,
		request = f.request, lease_owner = '', lease_expires_at = NULL
	FROM f WHERE j.id = ANY ($1) AND j.id = f.id AND j.state = 'running' AND j.lease_owner = f.owner
	RETURNING j.id
), attempt AS (
	INSERT INTO webhook_attempts (` + attemptColumns + `)
	SELECT ` + attemptColumns + `
	FROM unnest($7::text[], $8::text[], $9::int[], $10::text[], $11::int[], $12::timestamptz[],
		$13::bigint[], $14::text[], $15::text[], $16::jsonb[], $17::bytea[], $18::int[], $19::jsonb[],
		$20::bytea[], $21::text[], $22::text[], $23::timestamptz[], $24::boolean[])
		WITH ORDINALITY AS a(` + attemptColumns + `, n)
	ORDER BY n
), existing AS (
	SELECT id FROM webhook_jobs WHERE id = ANY ($1)
)
SELECT f.id IN (SELECT id FROM updated), f.id IN (SELECT id FROM existing) FROM f ORDER BY f.n`

// finishing is the job and attempt of a Finish call.
type finishing struct {
	job     *webhook.Job
	attempt *webhook.Attempt
}

// finishArgs returns the arguments of finishSQL for fs.
func finishArgs(fs []finishing) ([]any, error) {
	var (
		ids, owners, states = make([]string, len(fs)), make([]string, len(fs)), make([]string, len(fs))
		attempts            = make([]int32, len(fs))
		due                 = make([]time.Time, len(fs))
		reqs                = make([][]byte, len(fs))

		aDelivery, aMessage, aUser, aMethod, aURL, aErr, aOutcome []string
		aVersion, aNumber, aStatus                                []int32
		aTime                                                     []time.Time
		aDuration                                                 []int64
		aReqHeader, aReqBody, aRespHeader, aRespBody              [][]byte
		aNext                                                     []*time.Time
		aIgnoreCaps                                               []bool
	)
	for i, f := range fs {
		j := f.job
		ids[i], owners[i], states[i], attempts[i], due[i] = j.ID, j.LeaseOwner, string(j.State), int32(j.Attempts), j.DueAt
		var err error
		if reqs[i], err = marshal(j.Request); err != nil {
			return nil, err
		}
		a := f.attempt
		if a == nil {
			continue
		}
		reqHeader, err := marshal(a.RequestHeader)
		if err != nil {
			return nil, err
		}
		respHeader, err := marshal(a.ResponseHeader)
		if err != nil {
			return nil, err
		}
		aDelivery, aMessage, aVersion = append(aDelivery, a.DeliveryID), append(aMessage, a.MessageID), append(aVersion, int32(a.MessageVersion))
		aUser, aNumber, aTime = append(aUser, a.UserID), append(aNumber, int32(a.Number)), append(aTime, a.Time)
		aDuration, aMethod, aURL = append(aDuration, int64(a.Duration)), append(aMethod, a.Method), append(aURL, a.URL)
		aReqHeader, aReqBody, aStatus = append(aReqHeader, reqHeader), append(aReqBody, []byte(a.RequestBody)), append(aStatus, int32(a.StatusCode))
		aRespHeader, aRespBody, aErr = append(aRespHeader, respHeader), append(aRespBody, []byte(a.ResponseBody)), append(aErr, a.Err)
		aOutcome, aNext, aIgnoreCaps = append(aOutcome, string(a.Outcome)), append(aNext, nullTime(a.NextAttemptAt)), append(aIgnoreCaps, a.IgnoreCaps)
	}
	return []any{ids, owners, states, attempts, due, reqs,
		aDelivery, aMessage, aVersion, aUser, aNumber, aTime, aDuration, aMethod, aURL, aReqHeader,
		aReqBody, aStatus, aRespHeader, aRespBody, aErr, aOutcome, aNext, aIgnoreCaps}, nil
}

// Finish implements [webhook.DeliveryStore], in one statement that commits asynchronously
// (see [Store.Claim]). Calls made at the same time share the statement, as Enqueue's do.
func (s *Store) Finish(ctx context.Context, j *webhook.Job, a *webhook.Attempt) error {
	return do(ctx, s.finishes, s.finishBatch, finishing{j, a})
}

// finish runs Finish for f alone.
func (s *Store) finish(ctx context.Context, f finishing) error {
	return s.finishAll(ctx, []finishing{f})[0]
}

// finishBatch runs Finish for each of fs in one statement, or, if two finish the same job or
// the statement fails, each in a statement of its own.
func (s *Store) finishBatch(ctx context.Context, fs []finishing) []error {
	if len(fs) == 1 {
		return s.finishAll(ctx, fs)
	}
	seen := make(map[string]bool, len(fs))
	for _, f := range fs {
		if seen[f.job.ID] {
			return eachAlone(ctx, fs, s.finish)
		}
		seen[f.job.ID] = true
	}
	errs := s.finishAll(ctx, fs)
	for _, err := range errs {
		if err != nil && !errors.Is(err, webhook.ErrLeaseLost) && !errors.Is(err, webhook.ErrNotFound) {
			if changedNothing(err) {
				return eachAlone(ctx, fs, s.finish)
			}
			// The statement may have been applied (a connection lost after the server
			// committed it): running each again would log their attempts twice.
			return errs
		}
	}
	return errs
}

// unsent is an error found before a statement was sent, so the statement changed nothing.
type unsent struct{ error }

func (e unsent) Unwrap() error { return e.error }

// changedNothing reports whether err surely left the database as it was: the server refused
// the statement, which it then rolled back, or it was never sent.
func changedNothing(err error) bool {
	var refused *pgconn.PgError
	var notSent unsent
	return errors.As(err, &refused) || errors.As(err, &notSent)
}

// finishAll runs Finish for each of fs, whose jobs differ, in one statement, and returns
// their errors.
func (s *Store) finishAll(ctx context.Context, fs []finishing) []error {
	errs := make([]error, len(fs))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = wrap("finish", err)
		}
		return errs
	}
	args, err := finishArgs(fs)
	if err != nil {
		return fail(unsent{err})
	}
	i := 0
	err = s.hotQuery(ctx, finishSQL, args, func(rows pgx.Rows) error {
		var saved, exists bool
		_, err := pgx.ForEachRow(rows, []any{&saved, &exists}, func() error {
			if i == len(fs) {
				return fmt.Errorf("more results than the %d jobs", len(fs))
			}
			switch j := fs[i].job; {
			case saved:
			case !exists:
				errs[i] = fmt.Errorf("pgstore: finish %q: %w", j.ID, webhook.ErrNotFound)
			default:
				errs[i] = fmt.Errorf("pgstore: finish %q: %w", j.ID, webhook.ErrLeaseLost)
			}
			i++
			return nil
		})
		return err
	})
	if err == nil && i != len(fs) {
		err = fmt.Errorf("%d results for %d jobs", i, len(fs))
	}
	if err != nil {
		return fail(err)
	}
	return errs
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
	rows, err := s.db.Query(ctx, `UPDATE webhook_jobs SET state = 'cancelled', request = NULL
		WHERE state IN ('scheduled', 'held') AND ($1 = '' OR message_id = $1) AND ($2 = '' OR user_id = $2)
			AND ($3::timestamptz IS NULL OR created_at < $3) AND ($4 = '' OR unless = $4)
		RETURNING `+jobColumns, f.MessageID, f.UserID, nullTime(f.CreatedBefore), f.Unless)
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

// Attempts implements [webhook.AttemptStore].
func (s *Store) Attempts(ctx context.Context, f webhook.AttemptFilter) ([]webhook.Attempt, error) {
	rows, err := s.db.Query(ctx, `SELECT `+attemptColumns+`
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
