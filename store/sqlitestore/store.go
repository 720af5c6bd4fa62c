// Package sqlitestore is a durable [webhook.Store] in one SQLite database: jobs, retries and
// the attempt log survive a crash or a restart of the process. It suits one app instance;
// for many instances sharing one queue use store/pgstore.
//
// # Setup
//
// The package imports no driver: the app imports one, and [Open] opens the database file
// through it with the settings the Store needs. With modernc.org/sqlite, the pure-Go driver
// this package is tested with:
//
//	import _ "modernc.org/sqlite"
//
//	db, err := sqlitestore.Open(ctx, "sqlite", "/var/lib/myapp/hooks.db")
//	...
//	defer db.Close()
//	store := sqlitestore.New(db)
//	if err := store.Migrate(ctx); err != nil { ... }
//	sender, err := webhook.NewSender(store, nil)
//
// The Store needs WAL journaling (readers do not block the writer) and a busy timeout (a
// writer waits for another instead of failing with SQLITE_BUSY): [Store.Migrate] and
// [Store.Check] refuse a database without them, with an error that gives the DSN to use. To
// open the database yourself, use that DSN, from [DSN]:
//
//	file:/var/lib/myapp/hooks.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate
//
// synchronous(NORMAL) makes commits cheap: a power loss may undo the last commits, a crash
// of the process cannot. _txlock=immediate makes the app's transactions take the write lock
// when they begin, which [Store.WithTx] wants. Use a file: each connection to ":memory:" is a
// database of its own. Other settings did not lower the CPU a delivery costs in the delivery
// benchmark (mmap_size, cache_size, page_size of 2, 8 or 16 KiB, temp_store,
// wal_autocheckpoint).
//
// Keep as many connections idle as may be open, as Open does (8 of each): database/sql keeps
// two idle by default and closes the rest, but a Sender reads from many goroutines at once,
// and a new SQLite connection opens the file and prepares the Store's statements again
// (which, in the delivery benchmark, cost a third of the CPU). A handful of connections
// suffice: SQLite has one writer, and readers are bound by the CPU. The Store needs at least
// two, since a write may prepare a statement while its transaction holds a connection.
//
// modernc.org/sqlite is SQLite's C source translated to Go: it builds without cgo, uses
// SQLite's own file locking and WAL shared memory (so several processes can share the file,
// as the crash test's restarted processes do), and takes the settings above in its DSN. Its
// cost is a long first build (about 40 seconds; cache it in CI). The DSN suits
// github.com/ncruces/go-sqlite3/driver as well; any driver of SQLite 3.38 or newer works if
// the database has the settings above.
//
// # Tables and migrations
//
// Every table and index of the Store is named webhook_*, so that it sits beside the app's own
// tables in one database. [Store.Migrate] applies the embedded migrations and records them in
// webhook_migrations; [Migrations] holds the same files, for apps that migrate with goose,
// golang-migrate or Atlas instead.
//
// # Transactions
//
// [Store.WithTx] returns a view of the Store that reads and writes through the app's own
// *sql.Tx. Pass it to [webhook.Sender.InTx] to record an event and enqueue its jobs in
// the app's transaction: they are sent if and only if that transaction commits (the outbox
// pattern), and audiences are checked against what the transaction sees.
//
// # Data
//
// Users, messages, maps, requests and attempts are kept as JSON, maps read back with
// [webhook.Map.UnmarshalJSON], so values come back in the JSON data model the Sender uses.
// Times are kept to the nanosecond, as nanoseconds since 1970 in UTC, which holds the years
// 1678 to 2261.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/internal/groupcommit"
)

// Store is a [webhook.Store] in a SQLite database. Create one with [New] and call
// [Store.Migrate] before using it. A Store is safe for concurrent use; several Stores (in one
// process or several) may share a database, each write waiting for the others.
//
// Its files follow the roles of the Store contract, as those of store/memstore and
// store/pgstore do: users.go, events.go, messages.go, jobs.go, attempts.go, campaigns.go, and
// for the optional roles variants.go and templates.go; migrate.go holds the migrations.
type Store struct {
	db *sql.DB
	// tx is the app's transaction of a WithTx view, else nil.
	tx *sql.Tx
	// locked records that a view took the write lock in tx (see WithTx). A view is used by
	// one goroutine at a time, as its transaction is.
	locked bool
	// writes runs the Store's writes one transaction at a time, so that they queue here
	// rather than in SQLite's busy handler, which polls with sleeps of up to 100ms. It is
	// nil in a view.
	writes *groupcommit.Group[writeFunc]
	// stmts are the prepared statements, shared by a Store and its views.
	stmts *stmts
}

var (
	_ webhook.Store         = (*Store)(nil)
	_ webhook.AttemptPruner = (*Store)(nil)
	_ webhook.QueueReader   = (*Store)(nil)
	_ webhook.VariantStore  = (*Store)(nil)
	_ webhook.TemplateStore = (*Store)(nil)
	_ webhook.Inspector     = (*Store)(nil)
)

// New returns a Store over db, which the caller opened with the settings in the package doc
// (see [Open]) and closes when done. New changes nothing in the database; call
// [Store.Migrate].
func New(db *sql.DB) *Store {
	s := &Store{db: db, stmts: &stmts{m: map[string]*sql.Stmt{}}}
	s.writes = groupcommit.New(s.commit)
	return s
}

// WithTx returns a view of s that reads and writes through tx, a transaction the app began
// on s's database: what the view writes commits or rolls back with tx, and what it reads
// includes tx's changes. Pass it to [webhook.Sender.InTx]. Each call's writes are
// atomic within tx (they run in a savepoint). Jobs it enqueues become visible to Senders
// when tx commits, and a started Sender finds them at its next poll (Config.PollInterval):
// SQLite cannot tell it sooner.
//
// A SQLite transaction that reads and then writes fails with SQLITE_BUSY if another
// connection wrote in between, so the view takes the database's write lock at its first use
// if tx does not hold it yet, before it reads. If the app reads in tx before it uses the
// view, begin tx with the write lock: the DSN of [DSN] and [Open] does so for every
// transaction (_txlock=immediate).
//
// The view is good until tx ends, and like tx it must not be used by two goroutines at once.
func (s *Store) WithTx(tx *sql.Tx) *Store {
	return &Store{db: s.db, tx: tx, stmts: s.stmts}
}

// DSN returns the data source name that opens the SQLite database file at path with the
// settings the Store needs (see the package doc). It suits modernc.org/sqlite (driver name
// "sqlite") and github.com/ncruces/go-sqlite3/driver ("sqlite3").
func DSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// connections is the number of connections Open keeps open and idle.
const connections = 8

// Open opens the SQLite database file at path, creating it if it does not exist, with the
// driver registered as driverName and the DSN of [DSN]; the app imports the driver, such as
// modernc.org/sqlite ("sqlite"). It keeps up to 8 connections, open and idle, and checks
// the database as [Store.Check] does, returning its error if a setting did not take (as
// with a driver that reads the settings from other DSN parameters). The caller closes the
// database when done.
func Open(ctx context.Context, driverName, path string) (*sql.DB, error) {
	db, err := sql.Open(driverName, DSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(connections)
	db.SetMaxIdleConns(connections)
	if err := New(db).Check(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// minBusyTimeout is the least busy timeout Check accepts. A write holds the lock for a
// commit's time, milliseconds; a timeout of a second leaves room for a slow disk.
const minBusyTimeout = time.Second

// Check returns an error if the database lacks a setting the Store needs: WAL journaling, a
// busy timeout of at least a second, SQLite 3.38 or newer, and a pool that may open two
// connections or more (see the package doc). The error wraps webhook.ErrInvalid and gives
// the DSN that has the settings. [Store.Migrate] calls it; call it yourself if another tool
// applies the migrations (see [Migrations]). Check reads the settings of one connection;
// busy_timeout is a setting of each connection, so set it in the DSN, for all of them.
func (s *Store) Check(ctx context.Context) error {
	var version, mode, file string
	var busy int64
	err := func() error {
		var c interface {
			QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		} = s.tx
		if s.tx == nil {
			conn, err := s.db.Conn(ctx) // the pragmas of one connection
			if err != nil {
				return err
			}
			defer conn.Close()
			c = conn
		}
		for _, q := range []struct {
			sql  string
			dest any
		}{
			{`SELECT sqlite_version()`, &version},
			{`PRAGMA journal_mode`, &mode},
			{`PRAGMA busy_timeout`, &busy},
			{`SELECT file FROM pragma_database_list WHERE name = 'main'`, &file},
		} {
			if err := c.QueryRowContext(ctx, q.sql).Scan(q.dest); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		return fmt.Errorf("sqlitestore: check settings: %w", err)
	}
	var problems []string
	if !atLeast(version, 3, 38) {
		problems = append(problems, fmt.Sprintf("SQLite 3.38 or newer, not %s", version))
	}
	if !strings.EqualFold(mode, "wal") {
		problems = append(problems, fmt.Sprintf("journal_mode WAL, not %q", mode))
	}
	if timeout := time.Duration(busy) * time.Millisecond; timeout < minBusyTimeout {
		problems = append(problems, fmt.Sprintf("a busy_timeout of at least %v, not %v", minBusyTimeout, timeout))
	}
	if n := s.db.Stats().MaxOpenConnections; n == 1 {
		problems = append(problems, "a pool of 2 connections or more, not SetMaxOpenConns(1)")
	}
	if len(problems) == 0 {
		return nil
	}
	dsn := DSN(file)
	if file == "" {
		dsn = DSN("/path/to/hooks.db") + " (a file: each connection to an in-memory database has its own)"
	}
	return fmt.Errorf("%w: sqlitestore: the database needs %s, or concurrent writes fail with SQLITE_BUSY: "+
		"open it with sqlitestore.Open, or with the DSN %s", webhook.ErrInvalid, strings.Join(problems, ", "), dsn)
}

// atLeast reports whether version, such as "3.45.1", is major.minor or newer.
func atLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (ma > major || ma == major && mi >= minor)
}

// lockSQL takes the database's write lock, changing nothing. A transaction of SQLite that
// begins with a read and then writes fails at once with SQLITE_BUSY if another connection
// wrote in between (its snapshot is stale), whatever the busy timeout; one that begins with
// a write waits for the lock in the busy handler and then reads the latest data. So every
// write transaction of the Store begins with this, whether or not the DSN makes
// transactions immediate.
const lockSQL = `UPDATE webhook_jobs SET id = id WHERE false`

// orIgnore: the Store's statements that change several rows, or return rows, in a
// transaction are INSERT OR IGNORE or UPDATE OR IGNORE. SQLite keeps a statement journal for
// a statement that may abort half done, copying into it every page the statement changes
// that an earlier statement of the transaction changed; one with OR IGNORE cannot abort.
// None of the Store's rows breaks a constraint that OR IGNORE skips (NOT NULL, CHECK): only
// its uniqueness decides, where a statement says so.

// write runs f as one write. In a view it runs in a savepoint of the view's transaction.
// Otherwise writes that wait at the same time share one transaction (a group commit): the
// Sender's workers finish jobs at the same time, and SQLite's cost is per commit. A write
// that fails changes nothing and fails no other write (see commit), so f may run more than
// once: it must set its results afresh each time. f gets a context that is not cancelled,
// since interrupting a statement would roll back the whole transaction; a write whose ctx
// ends before its transaction begins returns ctx's error and changes nothing.
func (s *Store) write(ctx context.Context, f writeFunc) error {
	if s.tx == nil {
		return s.writes.Do(ctx, f)
	}
	if err := s.lockView(ctx); err != nil {
		return err
	}
	return savepoint(ctx, s.tx, func(tx *sql.Tx) error { return f(ctx, tx) })
}

// savepoint runs f in a savepoint of tx: if f fails, what it changed is undone, and tx goes
// on.
func savepoint(ctx context.Context, tx *sql.Tx, f func(tx *sql.Tx) error) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT webhook`); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_, _ = tx.ExecContext(context.WithoutCancel(ctx), `ROLLBACK TO webhook; RELEASE webhook`)
		return err
	}
	_, err := tx.ExecContext(ctx, `RELEASE webhook`)
	return err
}

// lockView takes the write lock in a view's transaction at its first use (see WithTx). It
// does nothing outside a view.
func (s *Store) lockView(ctx context.Context) error {
	if s.tx == nil || s.locked {
		return nil
	}
	if _, err := s.tx.ExecContext(ctx, lockSQL); err != nil {
		return fmt.Errorf("take the write lock: %w", err)
	}
	s.locked = true
	return nil
}

// writeFunc is a write: it runs its statements in tx.
type writeFunc func(ctx context.Context, tx *sql.Tx) error

// maxBatch is the number of writes after which a transaction takes no more writes that
// arrive while it runs.
const maxBatch = 64

// commit runs a batch of writes in one transaction and returns the error of each: the writes
// in calls, and those it takes with more. Writes that arrive while it runs join it, up to
// maxBatch writes, since a commit costs more than most writes. When a write fails, commit
// rolls the transaction back and runs the writes again without it, in a new one: the failed
// write saw the writes before it, as it would have in its own savepoint, and the others run
// once more. Writes rarely fail, so this costs less than a savepoint around each write, which
// made SQLite copy every page the write changed into a journal.
func (s *Store) commit(calls []groupcommit.Call[writeFunc], more func() []groupcommit.Call[writeFunc]) []error {
	var (
		batch  = calls
		errs   = make([]error, len(calls))
		failed = make([]bool, len(calls))
	)
	// take adds the writes waiting to batch and reports whether there were any.
	take := func() bool {
		arrived := more()
		batch = append(batch, arrived...)
		errs = append(errs, make([]error, len(arrived))...)
		failed = append(failed, make([]bool, len(arrived))...)
		return len(arrived) > 0
	}
	// Let the goroutines that are ready to run reach their writes first: the Sender's
	// workers finish together, and a larger batch means fewer commits (in the delivery
	// benchmark, this yield saves 13-20% of the CPU per delivery).
	runtime.Gosched()
	take()
	err := func() error {
	run:
		for {
			tx, err := s.db.BeginTx(context.Background(), nil)
			if err != nil {
				return err
			}
			if _, err := s.stmt(context.Background(), tx, lockSQL).ExecContext(context.Background()); err != nil {
				_ = tx.Rollback()
				return err
			}
			for i := 0; i < len(batch) || len(batch) < maxBatch && take(); i++ {
				if failed[i] {
					continue
				}
				w := batch[i]
				if errs[i] = w.Item(context.WithoutCancel(w.Ctx), tx); errs[i] != nil {
					failed[i] = true
					_ = tx.Rollback()
					if !slices.Contains(failed, false) {
						return nil
					}
					continue run
				}
			}
			return tx.Commit()
		}
	}()
	if err != nil {
		for i := range batch {
			if !failed[i] {
				errs[i] = err
			}
		}
	}
	return errs
}

// stmts are prepared statements by query.
type stmts struct {
	mu sync.Mutex // guards m
	m  map[string]*sql.Stmt
}

// statement runs a query that it holds: a *sql.Stmt, or unprepared.
type statement interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// stmt returns query to run in tx, or on the database if tx is nil: prepared, since
// preparing is a good part of the cost of SQLite's small statements. A query is prepared
// through the database on its first use, and in a transaction again on each connection
// (database/sql does that). In a view it is run unprepared until the Store has prepared it,
// since the app's pool may have no other connection free; so is a query that cannot be
// prepared, to return the error.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) statement {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	st := s.stmts.m[query]
	if st == nil && (tx == nil || tx != s.tx) {
		if prepared, err := s.db.PrepareContext(ctx, query); err == nil {
			st = prepared
			s.stmts.m[query] = st
		}
	}
	switch {
	case st == nil && tx != nil:
		return unprepared{tx, query}
	case st == nil:
		return unprepared{s.db, query}
	case tx != nil:
		return tx.StmtContext(ctx, st)
	}
	return st
}

// unprepared runs query on a database or in a transaction.
type unprepared struct {
	on interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	query string
}

func (u unprepared) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return u.on.ExecContext(ctx, u.query, args...)
}

func (u unprepared) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	return u.on.QueryContext(ctx, u.query, args...)
}

func (u unprepared) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return u.on.QueryRowContext(ctx, u.query, args...)
}

// read runs query, a read, in the view's transaction or on the database.
func (s *Store) read(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := s.lockView(ctx); err != nil {
		return nil, err
	}
	return s.stmt(ctx, s.tx, query).QueryContext(ctx, args...)
}

// readValues runs query, a read of one row, and scans it into dest. A query that returns no
// row is an error wrapping webhook.ErrNotFound.
func (s *Store) readValues(ctx context.Context, query string, args []any, dest ...any) error {
	rows, err := s.read(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return webhook.ErrNotFound
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}

// execWrite runs query as one write and returns how many rows it changed.
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.stmt(ctx, tx, query).ExecContext(ctx, args...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect reads every row with scan, appending to out, and closes rows.
func collect[T any](out []T, rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// document reads a row that holds one JSON document and decodes it.
func document[T any](sc scanner) (T, error) {
	var v T
	var data []byte
	if err := sc.Scan(&data); err != nil {
		return v, err
	}
	return v, json.Unmarshal(data, &v)
}

// maxChunk is the most rows that one statement of a batch write takes, and maxIn the most
// values of one IN list.
const (
	maxChunk = 64
	maxIn    = 1024
)

// chunks calls f with the start and size of each chunk of n rows, at most max rows each,
// stopping at f's first error. Sizes are powers of two, largest first, so that the
// statements of batches of any size are made from a handful of texts, each prepared once.
func chunks(n, max int, f func(start, size int) error) error {
	for start := 0; start < n; {
		size := min(max, 1<<(bits.Len(uint(n-start))-1))
		if err := f(start, size); err != nil {
			return err
		}
		start += size
	}
	return nil
}

// rowsOf returns n copies of row, such as "(?, ?)", separated by commas: the VALUES of a
// statement that takes n rows.
func rowsOf(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// limitArg returns the argument of a LIMIT ? for a Limit of n: n, or -1, no limit, if n is 0
// or less.
func limitArg(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// where builds the conditions of a query, joined by AND, and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return "true"
	}
	return strings.Join(w.conds, " AND ")
}

// each calls f with w's conditions and their arguments: once if ids is empty, else once per
// IN list of ids (see inLists) with the condition that the job's id is in it, stopping at
// f's first error.
func (w *where) each(ids []string, f func(where string, args []any) error) error {
	cond := w.String()
	if len(ids) == 0 {
		return f(cond, w.args)
	}
	return inLists(ids, func(list string, idArgs []any) error {
		return f(cond+` AND id IN `+list, append(slices.Clip(w.args), idArgs...))
	})
}

// inList returns an IN list, such as "(?, ?, ?, ?)", and its values: values padded with
// copies of the last one to a power of two, so that statements are made from a handful of
// texts. values must not be empty.
func inList[T any](values []T) (string, []any) {
	args := make([]any, 1<<bits.Len(uint(len(values)-1)))
	for i := range args {
		args[i] = values[min(i, len(values)-1)]
	}
	return "(" + rowsOf(len(args), "?") + ")", args
}

// inLists calls f with the IN list of each chunk of values, at most maxIn each (see
// inList), stopping at f's first error. values must not be empty.
func inLists[T any](values []T, f func(list string, args []any) error) error {
	for start := 0; start < len(values); start += maxIn {
		if err := f(inList(values[start:min(start+maxIn, len(values))])); err != nil {
			return err
		}
	}
	return nil
}

// wrap prefixes err with the package and op, unless it is nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlitestore: %s: %w", op, err)
}

// nanos returns t as nanoseconds since the Unix epoch, or NULL for the zero time.
func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNanos is the inverse of nanos, in UTC.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// Times are kept as int64 nanoseconds, from 1677 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// bound returns t as nanoseconds for a comparison: if t is outside the range of nanos, the
// nearer end of it, which compares with every time kept as t does. A zero t is def.
func bound(t time.Time, def int64) int64 {
	switch {
	case t.IsZero():
		return def
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// instant returns t as nanoseconds for a column that is never NULL, such as an event's or
// an attempt's time: the zero time as the least int64, so that it sorts first.
func instant(t time.Time) int64 { return bound(t, math.MinInt64) }

// fromInstant is the inverse of instant, in UTC.
func fromInstant(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// marshalMap returns m as JSON, or NULL for a nil map.
func marshalMap(m webhook.Map) (sql.NullString, error) {
	return marshalNull(m, m == nil)
}

// marshalNull returns v as JSON, or NULL if null is true.
func marshalNull(v any, null bool) (sql.NullString, error) {
	if null {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(v)
	return sql.NullString{String: string(b), Valid: true}, err
}

// unmarshalNull decodes JSON into v unless s is NULL.
func unmarshalNull(s sql.NullString, v any) error {
	if !s.Valid {
		return nil
	}
	return json.Unmarshal([]byte(s.String), v)
}
