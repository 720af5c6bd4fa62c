package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
	id := fmt.Sprintf("dlv_%04d", i)
	return &webhook.Job{
		ID: id, Key: "key-" + id, MessageID: "m", MessageVersion: 1, UserID: fmt.Sprintf("u%d", i),
		State: webhook.JobScheduled, CreatedAt: epoch, DueAt: due,
	}
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
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("User round trip (-put +got):\n%s", diff)
	}
	if _, err := s.User(ctx, "nobody"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("User(nobody) error = %v, want ErrNotFound", err)
	}

	m := &webhook.Message{ID: "m", URL: "http://example.test/{{ user.id }}",
		Data:     []webhook.Field{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup"}}
	for want := 1; want <= 2; want++ {
		if err := s.PutMessage(ctx, m); err != nil || m.Version != want {
			t.Fatalf("PutMessage: version %d, %v; want version %d", m.Version, err, want)
		}
	}
	trig, err := s.TriggeredMessages(ctx, "signup")
	if err != nil || len(trig) != 1 || trig[0].Version != 2 {
		t.Fatalf("TriggeredMessages = %+v, %v; want version 2 of m", trig, err)
	}
	if diff := cmp.Diff(m, trig[0]); diff != "" {
		t.Errorf("Message round trip (-put +got):\n%s", diff)
	}

	j := newJob(1, epoch)
	j.Params = webhook.Map{"k": "v"}
	j.Event = &webhook.Event{ID: "e1", UserID: "u1", Name: "signup", Time: epoch}
	if err := s.AddEvent(ctx, webhook.Event{ID: "e1", UserID: "u1", Name: "signup", Time: epoch}, []*webhook.Job{j}); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Claim(ctx, epoch, "me", time.Minute, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("Claim = %v, %v; want the job", claimed, err)
	}
	want := *j
	want.State, want.LeaseOwner, want.LeaseExpiresAt = webhook.JobRunning, "me", epoch.Add(time.Minute)
	if diff := cmp.Diff(&want, claimed[0]); diff != "" {
		t.Errorf("claimed job (-want +got):\n%s", diff)
	}
	c := claimed[0]
	c.State, c.Attempts = webhook.JobSucceeded, 1
	c.Request = &webhook.Request{Method: "POST", URL: "http://example.test/u1", Body: []byte{0, 1, 2}}
	a := &webhook.Attempt{DeliveryID: c.ID, MessageID: "m", MessageVersion: 2, UserID: "u1", Number: 1,
		Time: epoch, Duration: 1500 * time.Microsecond, Method: "POST", URL: c.Request.URL,
		StatusCode: 200, ResponseBody: "\x00\xff not UTF-8", Outcome: webhook.Succeeded}
	if err := s.Finish(ctx, c, a); err != nil {
		t.Fatal(err)
	}
	as, err := s.Attempts(ctx, webhook.AttemptFilter{DeliveryID: c.ID})
	if err != nil || len(as) != 1 {
		t.Fatalf("Attempts = %v, %v; want one", as, err)
	}
	if diff := cmp.Diff(*a, as[0]); diff != "" {
		t.Errorf("attempt round trip (-put +got):\n%s", diff)
	}
	saved, err := s.Job(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.LeaseOwner, c.LeaseExpiresAt = "", time.Time{}
	if diff := cmp.Diff(c, saved); diff != "" {
		t.Errorf("finished job (-want +got):\n%s", diff)
	}
}

// TestClaimConcurrent checks that claimers on separate pools never get the same job.
func TestClaimConcurrent(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	const n, claimers = 300, 4
	jobs := make([]*webhook.Job, n)
	for i := range jobs {
		jobs[i] = newJob(i, epoch.Add(time.Duration(i%7)*time.Second))
	}
	if err := pgstore.New(newPool(t, schema)).Enqueue(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	got := leaseAll(t, schema, claimers, func(s *pgstore.Store, owner string) ([]string, error) {
		js, err := s.Claim(ctx, epoch.Add(time.Minute), owner, time.Hour, 7)
		ids := make([]string, len(js))
		for i, j := range js {
			ids[i] = j.ID
		}
		return ids, err
	})
	if len(got) != n {
		t.Errorf("claimed %d jobs, want %d", len(got), n)
	}
}

func TestLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Enqueue(ctx, []*webhook.Job{newJob(1, epoch), newJob(2, epoch.Add(time.Second))}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Claim(ctx, epoch.Add(time.Second), "a", time.Minute, 10)
	if err != nil || len(first) != 2 || first[0].ID != "dlv_0001" {
		t.Fatalf("Claim = %v, %v; want both jobs, earliest first", first, err)
	}
	if next, ok, err := s.NextDue(ctx); err != nil || !ok || !next.Equal(epoch.Add(time.Minute+time.Second)) {
		t.Errorf("NextDue = %v, %v, %v; want the lease expiry", next, ok, err)
	}
	if js, err := s.Claim(ctx, epoch.Add(time.Minute), "b", time.Minute, 10); err != nil || len(js) != 0 {
		t.Fatalf("Claim before lease expiry = %v, %v; want none", js, err)
	}
	second, err := s.Claim(ctx, epoch.Add(2*time.Minute), "b", time.Minute, 1)
	if err != nil || len(second) != 1 || second[0].LeaseOwner != "b" {
		t.Fatalf("Claim after expiry = %v, %v; want one job leased to b", second, err)
	}
	stale := first[0]
	stale.State = webhook.JobSucceeded
	if err := s.Finish(ctx, stale, &webhook.Attempt{DeliveryID: stale.ID, Time: epoch, Outcome: webhook.Succeeded}); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("stale Finish error = %v, want ErrLeaseLost", err)
	}
	if as, _ := s.Attempts(ctx, webhook.AttemptFilter{DeliveryID: stale.ID}); len(as) != 1 {
		t.Errorf("stale Finish logged %d attempts, want 1", len(as))
	}
	missing := newJob(9, epoch)
	if err := s.Finish(ctx, missing, nil); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Finish of an unknown job error = %v, want ErrNotFound", err)
	}
}

func TestEnqueueDedupe(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, b := newJob(1, epoch), newJob(2, epoch)
	b.Key = a.Key
	if err := s.Enqueue(ctx, []*webhook.Job{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, []*webhook.Job{a}); err != nil {
		t.Fatal(err)
	}
	js, err := s.Claim(ctx, epoch, "me", time.Minute, 10)
	if err != nil || len(js) != 1 || js[0].ID != a.ID {
		t.Fatalf("Claim = %v, %v; want only the first job of the key", js, err)
	}
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Enqueue(ctx, []*webhook.Job{newJob(1, epoch), newJob(2, epoch)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, webhook.JobFilter{}); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("Cancel with an empty filter error = %v, want ErrInvalid", err)
	}
	got, err := s.Cancel(ctx, webhook.JobFilter{UserID: "u2", CreatedBefore: epoch.Add(time.Second)})
	if err != nil || len(got) != 1 || got[0].ID != "dlv_0002" || got[0].State != webhook.JobCancelled {
		t.Fatalf("Cancel = %v, %v; want dlv_0002 cancelled", got, err)
	}
	if js, _ := s.Claim(ctx, epoch, "me", time.Minute, 10); len(js) != 1 || js[0].ID != "dlv_0001" {
		t.Errorf("Claim after Cancel = %v, want only dlv_0001", js)
	}
}

// TestNotifications checks that an enqueue through one pool wakes a listener on another,
// and that the listener's channel is closed when its context ends.
func TestNotifications(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	schema := newSchema(t)
	listener := pgstore.New(newPool(t, schema))
	lctx, stop := context.WithCancel(ctx)
	ch := listener.Notifications(lctx)
	select {
	case <-ch: // the first value comes when it starts listening
	case <-ctx.Done():
		t.Fatal("no notification on start")
	}
	if err := pgstore.New(newPool(t, schema)).Enqueue(ctx, []*webhook.Job{newJob(1, epoch)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("no notification after Enqueue")
	}
	stop()
	for range ch {
	}
}

// TestViewKeepsCommitMode checks that Claim and Finish through a WithTx view leave the app's
// transaction committing as the app set it, while they commit asynchronously on their own.
func TestViewKeepsCommitMode(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	s := pgstore.New(pool)
	if err := s.Enqueue(ctx, []*webhook.Job{newJob(1, epoch)}); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		view := s.WithTx(tx)
		js, err := view.Claim(ctx, epoch, "me", time.Minute, 1)
		if err != nil || len(js) != 1 {
			return fmt.Errorf("Claim = %v, %v", js, err)
		}
		js[0].State = webhook.JobSucceeded
		if err := view.Finish(ctx, js[0], &webhook.Attempt{DeliveryID: js[0].ID, Time: epoch}); err != nil {
			return err
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
