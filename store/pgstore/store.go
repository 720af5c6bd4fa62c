// Package pgstore is a [webhook.Store] on PostgreSQL (pgx v5), for many app instances sharing
// one job queue on a database they already run. It needs PostgreSQL 14 or later.
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
// To run the migrations with a tool of your own instead (goose, golang-migrate, Atlas), see
// [Migrations].
//
// # Many instances
//
// Any number of Senders, in one process or many, may share one database. Claims take rows
// with FOR UPDATE SKIP LOCKED, so each job is leased to one Sender at a time, and an enqueue
// sends a NOTIFY in its transaction, so every Sender listening (see [Store.Notifications])
// looks for work as soon as it commits instead of at its next poll.
//
// # Transactions
//
// [Store.WithTx] returns a view of the Store that reads and writes through the caller's
// pgx.Tx. Pass it to [webhook.Sender.InTx] to record users, events and jobs in the app's own
// transaction: they are saved, and the jobs sent, if and only if that transaction commits
// (the outbox pattern), and audiences are checked against what the transaction sees.
//
// # Data
//
// Users and messages are kept as JSONB, maps read back through [webhook.Map]'s UnmarshalJSON,
// so values round-trip as the Sender made them. Times in columns keep PostgreSQL's
// microsecond resolution. Text cannot hold NUL characters in PostgreSQL, in JSONB strings
// either: a value with one is refused with an error. Response bodies are kept as bytea, so
// any bytes a receiver returns are logged as they came.
//
// The files of the package follow the roles of the Store contract, as those of
// store/memstore and store/sqlitestore do: users.go, events.go, messages.go, jobs.go,
// attempts.go, campaigns.go; and listen.go for [webhook.Notifier], variants.go for
// [webhook.VariantStore], templates.go for [webhook.TemplateStore], migrate.go for the schema.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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

	// enqueues, finishes, users and messages merge concurrent Enqueue, Finish, Users (by
	// IDs) and Messages (by ID) calls; nil in a view, which runs each call by itself in its
	// transaction.
	enqueues *groupcommit.Group[*enqueueCall]
	finishes *groupcommit.Group[*finishCall]
	users    *groupcommit.Group[*userRead]
	messages *groupcommit.Group[*messageRead]
}

var (
	_ webhook.Store         = (*Store)(nil)
	_ webhook.Notifier      = (*Store)(nil)
	_ webhook.AttemptPruner = (*Store)(nil)
	_ webhook.VariantStore  = (*Store)(nil)
	_ webhook.TemplateStore = (*Store)(nil)
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
// need far fewer: concurrent Enqueue, Finish, Users and Messages calls on one Store are
// merged into one statement each (see [Store.Enqueue]), so each of these uses one connection
// at a time however many goroutines call it, and the job path ran as fast on a pool of
// 4 connections as on one of 20 with 16 workers. pgxpool's default size (4, or the number of
// CPUs if more) is enough for the Store; add what the app itself needs.
func New(pool *pgxpool.Pool) *Store {
	s := &Store{db: pool, pool: pool}
	s.enqueues = newGroup(s.enqueueBatch)
	s.finishes = newGroup(s.finishBatch)
	s.users = newGroup(s.readUsers)
	s.messages = newGroup(s.readMessages)
	return s
}

// WithTx returns a view of s that reads and writes through tx, so that its changes commit or
// roll back with tx and its reads see what tx has written: for [webhook.Sender.InTx]. Jobs
// it enqueues become visible to Senders, and wake them, when tx commits. A call of the view
// that the server fails leaves tx aborted, as any failed statement does in PostgreSQL: roll
// tx back.
// The view is good until tx ends, and like tx it must not be used by two goroutines at once.
func (s *Store) WithTx(tx pgx.Tx) *Store {
	return &Store{db: tx, pool: s.pool, view: true}
}

// planSettings are set, for its transaction only, before each of the statements that the
// Sender runs for every job or trigger (claims, finishes, lookups of users and messages,
// cancellations by Unless events), in the same round trip, outside a view:
//
//   - The statement runs with the plan made when it was first prepared on the connection.
//     PostgreSQL otherwise plans statements on arrays anew each time (its reusable plan
//     assumes longer arrays than most batches, so looks dearer than a plan for the batch at
//     hand), and planning costs more than running them.
//   - That plan reads by indexes even if the tables were empty when it was made, as they
//     are on a new or drained queue, where a sequential scan looks cheaper; it would then be
//     kept as the queue grows, and read the whole queue on every claim.
const planSettings = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true)`

// hotSettings are planSettings with an asynchronous commit (see [Store.Claim]), for the
// statements of the job path: claims, finishes and lookups, which write nothing to
// commit.
const hotSettings = planSettings + `, set_config('synchronous_commit', 'off', true)`

// stmt is a statement and its arguments.
type stmt struct {
	sql  string
	args []any
}

// batch runs stmts in one round trip and one transaction (the view's, in a view), after
// settings if they are not empty and s is not a view, and passes the rows of each to f in
// turn, which must close them.
func (s *Store) batch(ctx context.Context, settings string, stmts []stmt, f func(i int, rows pgx.Rows) error) error {
	b := new(pgx.Batch)
	if s.view {
		settings = ""
	}
	if settings != "" {
		b.Queue(settings)
	}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	results := s.db.SendBatch(ctx, b)
	var err error
	if settings != "" {
		_, err = results.Exec()
	}
	for i := 0; i < len(stmts) && err == nil; i++ {
		var rows pgx.Rows
		if rows, err = results.Query(); err == nil {
			err = f(i, rows)
		}
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	return err
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

// invalid returns an error wrapping webhook.ErrInvalid that says what is wrong with op's
// parameters.
func invalid(op, format string, args ...any) error {
	return fmt.Errorf("pgstore: %s: %w: %s", op, webhook.ErrInvalid, fmt.Sprintf(format, args...))
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

// newGroup returns a group commit whose batches run with run (see [groupcommit.Group]):
// one statement, transaction and commit (with its fsync and NOTIFY) then serves many calls
// instead of one each. A batch runs under a context that is cancelled once the contexts of
// all its calls have ended, not before, since each call's item depends on it.
func newGroup[T any](run func(ctx context.Context, items []T) []error) *groupcommit.Group[T] {
	return groupcommit.New(func(calls []groupcommit.Call[T], _ func() []groupcommit.Call[T]) []error {
		items := make([]T, len(calls))
		ctxs := make([]context.Context, len(calls))
		for i, c := range calls {
			items[i], ctxs[i] = c.Item, c.Ctx
		}
		ctx, cancel := allDone(ctxs)
		defer cancel()
		return run(ctx, items)
	})
}

// do runs item in a batch of g, or, if g is nil (in a view), in a batch of its own with
// run, and returns its error.
func do[T any](ctx context.Context, g *groupcommit.Group[T], run func(context.Context, []T) []error, item T) error {
	if g == nil {
		return run(ctx, []T{item})[0]
	}
	return g.Do(ctx, item)
}

// allDone returns a context with the values of ctxs[0] that is cancelled once every one of
// ctxs has ended, and a function to call when it is no longer needed, which also ends the
// goroutine that watches ctxs.
func allDone(ctxs []context.Context) (context.Context, context.CancelFunc) {
	if len(ctxs) == 1 {
		return ctxs[0], func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctxs[0]))
	for _, c := range ctxs {
		if c.Done() == nil {
			return ctx, cancel // c never ends, so neither does the batch
		}
	}
	go func() {
		for _, c := range ctxs {
			select {
			case <-c.Done():
			case <-ctx.Done():
				return
			}
		}
		cancel()
	}()
	return ctx, cancel
}

// params are the arguments of a statement whose text is built in parts.
type params []any

// add appends v and returns its placeholder, such as "$3".
func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
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

// collect reads every row of rows with scan.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
}

// ceilMicro returns t rounded up to the microsecond. PostgreSQL keeps times to the
// microsecond and pgx drops the nanoseconds of those it sends, which is right for an upper
// bound (time <= t) but not for a lower one (time >= t) or a strict upper one (time < t):
// these hold for the times PostgreSQL keeps exactly if they hold for ceilMicro(t).
func ceilMicro(t time.Time) time.Time {
	if d := t.Truncate(time.Microsecond); !d.Equal(t) {
		return d.Add(time.Microsecond)
	}
	return t
}

// nullTime returns t, or nil (SQL NULL) if t is zero.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// timeOrZero returns *t, or the zero time if t is nil (SQL NULL).
func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// marshal returns the JSON encoding of v, or nil (SQL NULL) if v is a nil pointer or map.
func marshal[T any](v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if string(b) == "null" {
		return nil, err
	}
	return b, err
}

// unmarshal decodes JSON b into v, leaving v as it is if b is NULL. A column's JSON is one
// valid value, so a v that decodes itself, such as a [webhook.Map], is given it directly,
// without json.Unmarshal's pass over it first.
func unmarshal(b []byte, v any) error {
	if b == nil {
		return nil
	}
	if u, ok := v.(json.Unmarshaler); ok {
		return u.UnmarshalJSON(b)
	}
	return json.Unmarshal(b, v)
}
