package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/internal/crashtest"
	"github.com/hookline/webhook/store/sqlitestore"
	"github.com/hookline/webhook/store/storetest"
	_ "modernc.org/sqlite"
)

// open opens and migrates a new database in a temporary directory, closed when tb ends.
func open(tb testing.TB) *sqlitestore.Store {
	tb.Helper()
	s, _ := openAt(tb, filepath.Join(tb.TempDir(), "hooks.db"))
	return s
}

// openAt opens and migrates the database at path, closed when tb ends.
func openAt(tb testing.TB, path string) (*sqlitestore.Store, *sql.DB) {
	tb.Helper()
	s, db, err := openStore(tb.Context(), path)
	if db != nil {
		tb.Cleanup(func() { db.Close() })
	}
	if err != nil {
		tb.Fatal(err)
	}
	return s, db
}

// openStore opens the database at path with Open and migrates it. The caller closes the
// database, if it is not nil.
func openStore(ctx context.Context, path string) (*sqlitestore.Store, *sql.DB, error) {
	db, err := sqlitestore.Open(ctx, "sqlite", path)
	if err != nil {
		return nil, nil, err
	}
	s := sqlitestore.New(db)
	return s, db, s.Migrate(ctx)
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) webhook.Store { return open(t) })
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooks.db")
	s, _ := openAt(t, path)
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
			p := webhook.EnqueueParams{
				Events: []webhook.Event{{ID: fmt.Sprintf("e%d", i), UserID: "u", Name: "x"}},
				Jobs:   []*webhook.Job{mk(fmt.Sprintf("ok%d", i), nil)},
			}
			if i%2 == 1 { // an event whose params cannot be encoded
				p.Events[0].Params = webhook.Map{"x": math.Inf(1)}
			}
			_, errs[i] = s.Enqueue(t.Context(), p)
		})
	}
	wg.Wait()
	for i, err := range errs {
		jobs, jobErr := s.Jobs(t.Context(), webhook.JobQuery{JobFilter: webhook.JobFilter{IDs: []string{fmt.Sprintf("ok%d", i)}}})
		if jobErr != nil {
			t.Fatal(jobErr)
		}
		if i%2 == 1 {
			if err == nil || len(jobs) != 0 {
				t.Errorf("Enqueue %d with a bad event = %v, and saved %d jobs; want an error and nothing saved", i, err, len(jobs))
			}
		} else if err != nil || len(jobs) != 1 {
			t.Errorf("Enqueue %d = %v, and saved %d jobs; want its job saved", i, err, len(jobs))
		}
	}
}

// Check refuses a database opened without the settings the Store needs, with an error that
// gives the DSN to use; Open's database has them.
func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooks.db")
	for _, tt := range []struct {
		name, dsn string
		conns     int
		want      string // in the error; empty for none
	}{
		{"plain path", path, 0, "journal_mode WAL"},
		{"no busy timeout", "file:" + path + "?_pragma=journal_mode(WAL)", 0, "busy_timeout of at least 1s, not 0s"},
		{"one connection", sqlitestore.DSN(path), 1, "SetMaxOpenConns(1)"},
		{"memory", ":memory:", 0, "each connection to an in-memory database has its own"},
		{"DSN", sqlitestore.DSN(path), 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sql.Open("sqlite", tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(tt.conns)
			s := sqlitestore.New(db)
			for what, err := range map[string]error{"Check": s.Check(t.Context()), "Migrate": s.Migrate(t.Context())} {
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("%s = %v, want nil", what, err)
				case tt.want == "":
				case err == nil || !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), tt.want) ||
					!strings.Contains(err.Error(), "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"):
					t.Errorf("%s = %v, want an error wrapping ErrInvalid that says %q and gives the DSN", what, err, tt.want)
				}
			}
		})
	}
}

// Triggers from many goroutines, through two Stores on one file as two processes would
// have, all succeed on a database from Open: with a plain sql.Open("sqlite", path), most
// failed with SQLITE_BUSY.
func TestConcurrentTriggers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooks.db")
	const perStore = 100
	var senders []*webhook.Sender
	var stores []*sqlitestore.Store
	for range 2 {
		s, _ := openAt(t, path)
		stores = append(stores, s)
		sender, err := webhook.NewSender(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := &webhook.Message{ID: "welcome", URL: "https://example.com/hooks/{{ user.id }}",
			Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup"}}
		if err := sender.SaveMessage(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, sender)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*perStore)
	for i := range 2 * perStore {
		wg.Go(func() {
			errs <- senders[i%2].Trigger(t.Context(), webhook.Event{UserID: fmt.Sprintf("u%d", i), Name: "signup"})
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Log(err)
		}
	}
	jobs, err := stores[0].Jobs(t.Context(), webhook.JobQuery{})
	if failed > 0 || err != nil || len(jobs) != 2*perStore {
		t.Errorf("%d of %d concurrent Triggers failed, and %d jobs were enqueued (%v); want none failed and %d jobs",
			failed, 2*perStore, len(jobs), err, 2*perStore)
	}
}

// Open opens the file at the path it is given, whatever characters the path holds.
func TestOpenPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hooks 1.db")
	openAt(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("after Open and Migrate of %q: %v", path, err)
	}
}
