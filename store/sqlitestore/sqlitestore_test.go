package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/internal/crashtest"
	"github.com/hookline/webhook/store/sqlitestore"
	"github.com/hookline/webhook/store/storetest"
	_ "modernc.org/sqlite"
)

// dsn is the DSN the package doc gives, for a database file at path.
func dsn(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// open opens and migrates a new database in a temporary directory, closed when tb ends.
func open(tb testing.TB) *sqlitestore.Store {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "hooks.db"))
}

// openAt opens and migrates the database at path, closed when tb ends.
func openAt(tb testing.TB, path string) *sqlitestore.Store {
	tb.Helper()
	s, db, err := openStore(tb.Context(), path)
	if db != nil {
		tb.Cleanup(func() { db.Close() })
	}
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// openStore opens the database at path as the package doc says, keeping its connections
// open, and migrates it. The caller closes the database, if it is not nil.
func openStore(ctx context.Context, path string) (*sqlitestore.Store, *sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := sqlitestore.New(db)
	return s, db, s.Migrate(ctx)
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) webhook.Store { return open(t) })
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooks.db")
	s := openAt(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	openAt(t, path) // a second process starting on the same database
}

func TestCrash(t *testing.T) {
	for name, kills := range map[string]int{"killed": 8, "never killed": -1} {
		t.Run(name, func(t *testing.T) {
			res := crashtest.Run(t, crashtest.Config{
				Kills: kills,
				Setup: func(t *testing.T) string { return filepath.Join(t.TempDir(), "hooks.db") },
				Open: func(ctx context.Context, path string) (webhook.Store, error) {
					s, _, err := openStore(ctx, path) // the child process exits without closing it
					return s, err
				},
			})
			if kills > 0 && res.Kills == 0 {
				t.Errorf("crash test killed no child, want up to %d kills", kills)
			}
		})
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) webhook.Store { return open(b) })
}

// A write that fails changes nothing and fails no other write, whether or not it shared a
// transaction with them.
func TestFailedWriteIsIsolated(t *testing.T) {
	s := open(t)
	mk := func(id string, params webhook.Map) *webhook.Job {
		return &webhook.Job{ID: id, Key: id, MessageID: "m", UserID: "u", Params: params, State: webhook.JobScheduled}
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			jobs := []*webhook.Job{mk(fmt.Sprintf("ok%d", i), nil)}
			if i%2 == 1 { // a second job whose params cannot be encoded
				jobs = append(jobs, mk(fmt.Sprintf("bad%d", i), webhook.Map{"x": math.NaN()}))
			}
			errs[i] = s.Enqueue(t.Context(), jobs)
		})
	}
	wg.Wait()
	for i, err := range errs {
		_, jobErr := s.Job(t.Context(), fmt.Sprintf("ok%d", i))
		if i%2 == 1 {
			if err == nil || !errors.Is(jobErr, webhook.ErrNotFound) {
				t.Errorf("Enqueue %d with a bad job = %v, and its good job: %v; want an error and nothing saved", i, err, jobErr)
			}
		} else if err != nil || jobErr != nil {
			t.Errorf("Enqueue %d = %v, and its job: %v; want it saved", i, err, jobErr)
		}
	}
}
