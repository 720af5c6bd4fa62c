// Package sqlitestore is a durable [webhook.Store] in one SQLite database: jobs,
// retries and the attempt log survive a crash or a restart of the process. It suits one
// app instance; for many instances sharing one queue use store/pgstore.
//
// The package imports no driver: open the database with one and pass the *sql.DB to [New].
// The store needs WAL journaling (readers do not block the writer), a busy timeout (writers
// wait for each other instead of failing) and transactions that take the write lock when
// they begin (so that two writers never deadlock). With modernc.org/sqlite, the pure-Go
// driver this package is tested with, that is the DSN
//
//	file:/path/to/hooks.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate
//
// synchronous(NORMAL) makes commits cheap; a power loss may undo the last commits, a crash
// of the process cannot. Other settings did not lower the CPU a job costs in the
// job benchmark (mmap_size, cache_size, page_size of 2, 8 or 16 KiB, temp_store,
// wal_autocheckpoint): the DSN above is all the store needs. Use a file: each connection
// to ":memory:" is a database of its own. Then:
//
//	db, err := sql.Open("sqlite", dsn) // import _ "modernc.org/sqlite"
//	...
//	db.SetMaxOpenConns(8)
//	db.SetMaxIdleConns(8)
//	store := sqlitestore.New(db)
//	if err := store.Migrate(ctx); err != nil { ... }
//	sender, err := webhook.NewSender(store, nil)
//
// Keep as many connections idle as may be open: database/sql keeps two idle by default and
// closes the rest, but a Sender reads from many goroutines at once, and a new SQLite
// connection opens the file and prepares the store's statements again (which, in the
// job benchmark, cost a third of the CPU). A handful of connections suffice: SQLite has
// one writer, and readers are bound by the CPU.
//
// modernc.org/sqlite is SQLite's C source translated to Go: it builds without cgo, uses
// SQLite's own file locking and WAL shared memory (so several processes can share the file,
// as the crash test's restarted processes do), and takes the settings above in its DSN
// (_pragma, _txlock). Its cost is a long first build (about 40 seconds; cache it in CI).
// Any driver of SQLite 3.38 or newer works: the store uses UPDATE ... RETURNING and the JSON
// functions, both built in from that version.
//
// Maps are kept as JSON and read back with [webhook.Map.UnmarshalJSON], so values come back
// in the JSON data model the Sender uses; times are kept to the nanosecond.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/internal/groupcommit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a [webhook.Store] in a SQLite database. Create one with [New] and call
// [Store.Migrate] before using it. A Store is safe for concurrent use; several Stores (in one
// process or several) may share a database, each write waiting for the others.
type Store struct {
	db *sql.DB
	// writes runs the Store's writes one transaction at a time, so that they queue here
	// rather than in SQLite's busy handler, which polls with sleeps of up to 100ms.
	writes *groupcommit.Group[writeFunc]

	smu   sync.Mutex           // guards stmts
	stmts map[string]*sql.Stmt // prepared statements by query
}

var (
	_ webhook.Store         = (*Store)(nil)
	_ webhook.AttemptPruner = (*Store)(nil)
)

// New returns a Store over db, which the caller opened with the settings in the package doc
// and closes when done. New changes nothing in the database; call [Store.Migrate].
func New(db *sql.DB) *Store {
	s := &Store{db: db, stmts: map[string]*sql.Stmt{}}
	s.writes = groupcommit.New(s.commit)
	return s
}

// Migrate creates or upgrades the Store's tables, applying the migrations the database has
// not had yet, each in its own transaction. It is safe to call every time the app starts,
// and from several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	for i, name := range names { // fs.Glob sorts: 0001_..., 0002_...
		version := i + 1
		src, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlitestore: migrate: %w", err)
		}
		err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(src)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlitestore: migrate %s: %w", name, err)
		}
	}
	return nil
}

// write runs f in a write transaction and returns f's error or the commit's. Writes that
// wait at the same time share one transaction (a group commit): the Sender's workers finish
// jobs at the same time, and SQLite's cost is per commit. A write that fails changes
// nothing and fails no other write (see commit), so f may run more than once: it must set
// its results afresh each time. f gets a context that is not cancelled, since interrupting a
// statement would roll back the whole transaction; a write whose ctx ends before its
// transaction begins returns ctx's error and changes nothing.
func (s *Store) write(ctx context.Context, f writeFunc) error {
	return s.writes.Do(ctx, f)
}

// writeFunc is a write: it runs its statements in tx.
type writeFunc func(ctx context.Context, tx *sql.Tx) error

// maxBatch is the number of writes after which a transaction takes no more writes that
// arrive while it runs.
const maxBatch = 64

// commit runs a batch of writes in one transaction and returns the error of each: the writes
// in calls, and those it takes with more. Writes that arrive while it runs join it, up to
// maxBatch writes, since a commit costs more than most writes. When a write fails, commit rolls the transaction back and runs the writes again
// without it, in a new one: the failed write saw the writes before it, as it would have in
// its own savepoint, and the others run once more. Writes rarely fail, so this costs less
// than a savepoint around each write, which made SQLite copy every page the write changed
// into a journal.
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
	// workers finish together, and a larger batch means fewer commits (in the job
	// benchmark, this yield saves 13-20% of the CPU per job).
	runtime.Gosched()
	take()
	err := func() error {
	run:
		for {
			tx, err := s.db.BeginTx(context.Background(), nil)
			if err != nil {
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

// stmt returns query prepared on the database, preparing it on first use, or nil if it
// cannot be prepared, in which case the caller runs it unprepared to get the error.
// Preparing is a good part of the cost of SQLite's small statements.
func (s *Store) stmt(ctx context.Context, query string) *sql.Stmt {
	s.smu.Lock()
	defer s.smu.Unlock()
	if st := s.stmts[query]; st != nil {
		return st
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	s.stmts[query] = st
	return st
}

// execTx runs query in tx, prepared.
func (s *Store) execTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.stmt(ctx, query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// queryTx runs query in tx, prepared.
func (s *Store) queryTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(ctx, query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// queryRowTx runs query in tx, prepared.
func (s *Store) queryRowTx(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.stmt(ctx, query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// query runs query outside a transaction, prepared.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, query, args...)
}

// queryRow runs query outside a transaction, prepared.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, query, args...)
}

// execWrite runs query as one of the store's writes and returns how many rows it changed.
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.execTx(ctx, tx, query, args...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// PutUser implements [webhook.UserStore].
func (s *Store) PutUser(ctx context.Context, u webhook.User) error {
	data, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("sqlitestore: put user %q: %w", u.ID, err)
	}
	_, err = s.execWrite(ctx, `INSERT INTO users (id, data) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data`, u.ID, data)
	if err != nil {
		return fmt.Errorf("sqlitestore: put user %q: %w", u.ID, err)
	}
	return nil
}

// User implements [webhook.UserStore].
func (s *Store) User(ctx context.Context, id string) (webhook.User, error) {
	u, err := document[webhook.User](s.queryRow(ctx, `SELECT data FROM users WHERE id = ?`, id))
	if err != nil {
		return webhook.User{}, fmt.Errorf("sqlitestore: user %q: %w", id, notFound(err))
	}
	return u, nil
}

// Users implements [webhook.UserStore].
func (s *Store) Users(ctx context.Context, after string, limit int) ([]webhook.User, error) {
	users, err := documents[webhook.User](ctx, s, `SELECT data FROM users WHERE id > ? ORDER BY id LIMIT ?`, after, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: users: %w", err)
	}
	return users, nil
}

// AddEvent implements [webhook.EventStore]: the event and its jobs are saved in one
// transaction.
func (s *Store) AddEvent(ctx context.Context, e webhook.Event, jobs []*webhook.Job) error {
	params, err := marshalMap(e.Params)
	if err != nil {
		return fmt.Errorf("sqlitestore: add event %q: %w", e.ID, err)
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.execTx(ctx, tx, `INSERT INTO events (id, user_id, name, time, params) VALUES (?, ?, ?, ?, ?)`,
			e.ID, e.UserID, e.Name, nanos(e.Time), params); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, jobs)
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: add event %q: %w", e.ID, err)
	}
	return nil
}

// PutMessage implements [webhook.MessageStore].
func (s *Store) PutMessage(ctx context.Context, m *webhook.Message) error {
	c := *m
	var trigger sql.NullString
	if c.Delivery.Kind == webhook.Triggered {
		trigger = sql.NullString{String: c.Delivery.Event, Valid: true}
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.queryRowTx(ctx, tx, `SELECT coalesce(max(version), 0) + 1 FROM messages WHERE id = ?`, c.ID).Scan(&c.Version); err != nil {
			return err
		}
		data, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		_, err = s.execTx(ctx, tx, `INSERT INTO messages (id, version, trigger_event, data) VALUES (?, ?, ?, ?)`,
			c.ID, c.Version, trigger, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: put message %q: %w", m.ID, err)
	}
	m.Version = c.Version
	return nil
}

// Message implements [webhook.MessageStore].
func (s *Store) Message(ctx context.Context, id string, version int) (*webhook.Message, error) {
	m, err := document[*webhook.Message](s.queryRow(ctx, `SELECT data FROM messages WHERE id = ?1
		AND version = CASE WHEN ?2 = 0 THEN (SELECT max(version) FROM messages WHERE id = ?1) ELSE ?2 END`,
		id, version))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: message %q version %d: %w", id, version, notFound(err))
	}
	return m, nil
}

// TriggeredMessages implements [webhook.MessageStore].
func (s *Store) TriggeredMessages(ctx context.Context, event string) ([]*webhook.Message, error) {
	ms, err := documents[*webhook.Message](ctx, s, `SELECT data FROM messages m WHERE trigger_event = ?
		AND version = (SELECT max(version) FROM messages WHERE id = m.id) ORDER BY id`, event)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: triggered messages %q: %w", event, err)
	}
	return ms, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect reads every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// documents runs query, whose rows hold one JSON document each, and decodes them.
func documents[T any](ctx context.Context, s *Store, query string, args ...any) ([]T, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, document[T])
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

// notFound translates sql.ErrNoRows into webhook.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return webhook.ErrNotFound
	}
	return err
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
