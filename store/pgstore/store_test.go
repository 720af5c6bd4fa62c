package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var epoch = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// dsn returns the test database's DSN from WEBHOOK_TEST_POSTGRES, or skips tb.
func dsn(tb testing.TB) string {
	tb.Helper()
	d := os.Getenv("WEBHOOK_TEST_POSTGRES")
	if d == "" {
		tb.Skip("pgstore: WEBHOOK_TEST_POSTGRES is not set; set it to a PostgreSQL DSN, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run these tests")
	}
	return d
}

// newSchema creates a schema with a random name for one test, migrated, and drops it when
// the test ends.
func newSchema(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn(tb))
	if err != nil {
		tb.Fatalf("connect to WEBHOOK_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "webhook_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn(tb))
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	if err := pgstore.New(newPool(tb, schema)).Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return schema
}

// newPool opens a pool of up to 6 connections whose search_path is schema, closed when the
// test ends.
func newPool(tb testing.TB, schema string) *pgxpool.Pool {
	tb.Helper()
	pool, err := openPool(context.Background(), dsn(tb), 6, map[string]string{"search_path": schema})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// openPool opens a pool of up to size connections with the given run-time parameters, such
// as search_path.
func openPool(ctx context.Context, dsn string, size int32, params map[string]string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	maps.Copy(cfg.ConnConfig.RuntimeParams, params)
	cfg.MaxConns = size
	return pgxpool.NewWithConfig(ctx, cfg)
}

// newStore returns a Store on a new schema of its own.
func newStore(tb testing.TB) *pgstore.Store {
	tb.Helper()
	return pgstore.New(newPool(tb, newSchema(tb)))
}

func newJob(i int, due time.Time) *webhook.Job {
	id := fmt.Sprintf("job_%04d", i)
	return &webhook.Job{
		ID: id, Key: "key-" + id, MessageID: "m", MessageVersion: 1, UserID: fmt.Sprintf("u%d", i),
		State: webhook.JobScheduled, CreatedAt: epoch, DueAt: due,
	}
}

// enqueue enqueues jobs, or fails the test.
func enqueue(tb testing.TB, s webhook.JobStore, jobs ...*webhook.Job) {
	tb.Helper()
	if _, err := s.Enqueue(context.Background(), webhook.EnqueueParams{Jobs: jobs}); err != nil {
		tb.Fatal(err)
	}
}

// claim claims up to limit jobs due at now as owner, or fails the test.
func claim(tb testing.TB, s webhook.JobStore, now time.Time, owner string, limit int) webhook.ClaimResult {
	tb.Helper()
	res, err := s.Claim(context.Background(), webhook.ClaimParams{Now: now, Owner: owner, Lease: time.Minute, Limit: limit})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// job returns the job with the given ID, or fails the test.
func job(tb testing.TB, s webhook.JobStore, id string) *webhook.Job {
	tb.Helper()
	js, err := s.Jobs(context.Background(), webhook.JobQuery{JobFilter: webhook.JobFilter{IDs: []string{id}}})
	if err != nil || len(js) != 1 {
		tb.Fatalf("Jobs(%s) = %v, %v; want the job", id, js, err)
	}
	return js[0]
}

// attemptsOf returns the attempts of a job, or fails the test.
func attemptsOf(tb testing.TB, s webhook.AttemptStore, jobID string) []webhook.Attempt {
	tb.Helper()
	as, err := s.Attempts(context.Background(), webhook.AttemptQuery{JobID: jobID})
	if err != nil {
		tb.Fatal(err)
	}
	return as
}

func TestMigrateTwice(t *testing.T) {
	schema := newSchema(t)
	if err := pgstore.New(newPool(t, schema)).Migrate(context.Background()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	u := webhook.User{ID: "u1", TimeZone: "Europe/Berlin", CreatedAt: epoch,
		Attributes: webhook.Map{"n": int64(1 << 60), "f": 1.5, "list": []any{"a", int64(2)}, "nested": webhook.Map{"b": true}}}
	if err := s.PutUsers(ctx, webhook.PutUsersParams{Users: []webhook.UserUpdate{{User: u}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Users(ctx, webhook.UserQuery{IDs: []string{"u1", "nobody"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]webhook.User{u}, got); diff != "" {
		t.Errorf("Users(u1, nobody) (-put +got):\n%s", diff)
	}

	m := &webhook.Message{ID: "m", URL: "http://example.test/{{ user.id }}",
		Data:     []webhook.Field{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup"}}
	for want := 1; want <= 2; want++ {
		if err := s.PutMessage(ctx, m); err != nil || m.Version != want {
			t.Fatalf("PutMessage: version %d, %v; want version %d", m.Version, err, want)
		}
	}
	trig, err := s.Messages(ctx, webhook.MessageQuery{Event: "signup"})
	if err != nil || len(trig) != 1 || trig[0].Version != 2 {
		t.Fatalf("Messages(event signup) = %+v, %v; want version 2 of m", trig, err)
	}
	if diff := cmp.Diff(m, trig[0]); diff != "" {
		t.Errorf("Message round trip (-put +got):\n%s", diff)
	}

	j := newJob(1, epoch)
	j.Params = webhook.Map{"k": "v"}
	e := webhook.Event{ID: "e1", UserID: "u1", Name: "signup", Params: webhook.Map{"k": "v"}, Time: epoch}
	j.Event = &webhook.Event{ID: e.ID, UserID: e.UserID, Name: e.Name, Time: e.Time}
	if _, err := s.Enqueue(ctx, webhook.EnqueueParams{Events: []webhook.Event{e}, Jobs: []*webhook.Job{j}}); err != nil {
		t.Fatal(err)
	}
	events, err := s.Events(ctx, webhook.EventQuery{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]webhook.Event{e}, events); diff != "" {
		t.Errorf("Events round trip (-put +got):\n%s", diff)
	}
	claimed := claim(t, s, epoch, "me", 10)
	if len(claimed.Jobs) != 1 {
		t.Fatalf("Claim = %v; want the job", claimed.Jobs)
	}
	want := *j
	want.State, want.LeaseOwner, want.LeaseExpiresAt = webhook.JobRunning, "me", epoch.Add(time.Minute)
	if diff := cmp.Diff(&want, claimed.Jobs[0]); diff != "" {
		t.Errorf("claimed job (-want +got):\n%s", diff)
	}
	c := claimed.Jobs[0]
	c.State, c.Attempts = webhook.JobSucceeded, 1
	c.Request = &webhook.Request{Method: "POST", URL: "http://example.test/u1", Body: []byte{0, 1, 2}}
	a := &webhook.Attempt{JobID: c.ID, MessageID: "m", MessageVersion: 2, UserID: "u1", Number: 1,
		Time: epoch, Duration: 1500 * time.Microsecond, Method: "POST", URL: c.Request.URL,
		StatusCode: 200, ResponseBody: "\x00\xff not UTF-8", Outcome: webhook.Succeeded}
	if errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: []webhook.Finished{{Job: c, Attempt: a}}}); err != nil || errs[0] != nil {
		t.Fatalf("Finish = %v, %v", errs, err)
	}
	as := attemptsOf(t, s, c.ID)
	if len(as) != 1 {
		t.Fatalf("Attempts = %v; want one", as)
	}
	if diff := cmp.Diff(*a, as[0]); diff != "" {
		t.Errorf("attempt round trip (-put +got):\n%s", diff)
	}
	c.LeaseOwner, c.LeaseExpiresAt = "", time.Time{}
	if diff := cmp.Diff(c, job(t, s, c.ID)); diff != "" {
		t.Errorf("finished job (-want +got):\n%s", diff)
	}
}

// TestViewKeepsCommitMode checks that Claim and Finish through a WithTx view leave the app's
// transaction committing as the app set it, while they commit asynchronously on their own.
func TestViewKeepsCommitMode(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	s := pgstore.New(pool)
	enqueue(t, s, newJob(1, epoch))
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		view := s.WithTx(tx)
		res := claim(t, view, epoch, "me", 1)
		if len(res.Jobs) != 1 {
			return fmt.Errorf("Claim = %v", res.Jobs)
		}
		res.Jobs[0].State = webhook.JobSucceeded
		f := webhook.Finished{Job: res.Jobs[0], Attempt: &webhook.Attempt{JobID: res.Jobs[0].ID, Time: epoch}}
		if errs, err := view.Finish(ctx, webhook.FinishParams{Jobs: []webhook.Finished{f}}); err != nil || errs[0] != nil {
			return fmt.Errorf("Finish = %v, %v", errs, err)
		}
		var mode string
		if err := tx.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&mode); err != nil {
			return err
		}
		if mode != "on" {
			t.Errorf("synchronous_commit in the app's transaction = %q after Claim and Finish, want on", mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWithTx checks that a view's writes are seen by its reads and by no one else until the
// transaction commits, and are gone if it rolls back: a user, an event and a job, as a
// signup in the app's own transaction records them.
func TestWithTx(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	s := pgstore.New(pool)
	for _, commit := range []bool{false, true} {
		user := fmt.Sprintf("commit-%v", commit)
		j := newJob(1, epoch)
		j.ID, j.Key, j.UserID = "job_"+user, "key-"+user, user
		seen := func(s *pgstore.Store) (users, events, jobs int) {
			t.Helper()
			us, err := s.Users(ctx, webhook.UserQuery{IDs: []string{user}})
			if err != nil {
				t.Fatal(err)
			}
			es, err := s.Events(ctx, webhook.EventQuery{UserID: user})
			if err != nil {
				t.Fatal(err)
			}
			js, err := s.Jobs(ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{UserID: user}})
			if err != nil {
				t.Fatal(err)
			}
			return len(us), len(es), len(js)
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A failure before the commit or rollback below must not leave the transaction
		// holding its connection, which the cleanup of the pool and schema would wait for.
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
		view := s.WithTx(tx)
		if err := view.PutUsers(ctx, webhook.PutUsersParams{Users: []webhook.UserUpdate{{User: webhook.User{ID: user}}}, Now: epoch}); err != nil {
			t.Fatal(err)
		}
		e := webhook.Event{ID: "signup", UserID: user, Name: "signup", Time: epoch}
		if _, err := view.Enqueue(ctx, webhook.EnqueueParams{Events: []webhook.Event{e}, Jobs: []*webhook.Job{j}}); err != nil {
			t.Fatal(err)
		}
		if u, e, j := seen(view); u != 1 || e != 1 || j != 1 {
			t.Errorf("the view sees %d users, %d events, %d jobs of its own; want 1 of each", u, e, j)
		}
		if u, e, j := seen(s); u+e+j != 0 {
			t.Errorf("before the commit, others see %d users, %d events, %d jobs of the transaction; want none", u, e, j)
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if commit {
			want = 1
		}
		if u, e, j := seen(s); u != want || e != want || j != want {
			t.Errorf("after the transaction ends (commit %v), %d users, %d events, %d jobs are saved; want %d of each", commit, u, e, j, want)
		}
	}
}
