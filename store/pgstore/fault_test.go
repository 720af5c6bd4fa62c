package pgstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/webhooktest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The tests here kill the database connections of a Sender's Store, as a failover, a
// restart or an administrator does, and check that it carries on by itself. The Store's
// connections are told apart by the application_name of its pool.

// faultPool opens a pool on schema whose connections carry the application name name, closed
// when the test ends.
func faultPool(tb testing.TB, schema, name string) *pgxpool.Pool {
	tb.Helper()
	pool, err := openPool(context.Background(), dsn(tb), 6, map[string]string{"search_path": schema, "application_name": name})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// killConnections terminates every server process whose application name is name, and
// returns how many it terminated.
func killConnections(ctx context.Context, tb testing.TB, name string) int {
	tb.Helper()
	conn, err := pgx.Connect(ctx, dsn(tb))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, name).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// errorCounter is a slog.Handler that counts records at level Error.
type errorCounter struct{ n atomic.Int64 }

func (h *errorCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *errorCounter) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h *errorCounter) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *errorCounter) WithGroup(string) slog.Handler                { return h }

// faultSender returns a Sender on a Store whose pool's connections are named name, with
// clock and logs counted by errs. It has no host rate limit, which would wait for the clock.
func faultSender(tb testing.TB, schema, name string, clock webhook.Clock, errs *errorCounter, poll time.Duration) *webhook.Sender {
	tb.Helper()
	s, err := webhook.NewSender(pgstore.New(faultPool(tb, schema, name)), &webhook.Config{
		ID: name, Clock: clock, Logger: slog.New(errs), AllowNetworks: webhooktest.LoopbackNetworks(),
		Workers: 8, PollInterval: poll, HostRate: -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// enqueueHooks saves jobs of message "hook" to users first to first+n-1 through store, due
// at epoch, in batches.
func enqueueHooks(ctx context.Context, tb testing.TB, store webhook.Store, first, n int) {
	tb.Helper()
	for start := first; start < first+n; start += 500 {
		var jobs []*webhook.Job
		for i := start; i < min(start+500, first+n); i++ {
			id := fmt.Sprintf("job_%05d", i)
			jobs = append(jobs, &webhook.Job{ID: id, Key: "key-" + id, MessageID: "hook", MessageVersion: 1,
				UserID: fmt.Sprintf("u%05d", i), State: webhook.JobScheduled, CreatedAt: epoch, DueAt: epoch})
		}
		if _, err := store.Enqueue(ctx, webhook.EnqueueParams{Jobs: jobs}); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestDatabaseConnectionsKilled kills every connection of a Sender's Store four times while
// it delivers 3000 webhooks. Nothing is lost; a job is sent twice only if it was in
// flight at a kill (its result could not be saved, so it is sent again when its lease
// expires), and then with the same webhook-id; the errors are logged; and the Sender carries
// on by itself as time passes, which the test makes happen on a fake clock whenever the
// Sender waits for it.
func TestDatabaseConnectionsKilled(t *testing.T) {
	ctx, schema, recv, clock := sharedQueue(t)
	const n, kills, workers = 3000, 4, 8
	name := "webhook_fault_" + schema
	errs := &errorCounter{}
	sender := faultSender(t, schema, name, clock, errs, time.Second)
	if err := sender.SaveMessage(ctx, &webhook.Message{ID: "hook", URL: recv.URL + "/{{ user.id }}"}); err != nil {
		t.Fatal(err)
	}
	appPool := faultPool(t, schema, "webhook_fault_app_"+schema)
	app := pgstore.New(appPool)
	enqueueHooks(ctx, t, app, 0, n)
	webhooktest.Start(t, sender)

	// A kill that finds no connection (the pool may be between one it lost and the next) is
	// made again after the next delivery, until all are in.
	killed := make(chan int)
	go func() {
		defer close(killed)
		for k := 1; k <= kills; k++ {
			got, err := recv.Wait(ctx, k*n/(kills+1))
			for err == nil {
				if c := killConnections(ctx, t, name); c > 0 || len(got) >= n {
					killed <- c
					break
				}
				got, err = recv.Wait(ctx, len(got)+1)
			}
			if err != nil {
				return
			}
		}
	}()
	for k := range killed {
		if k == 0 {
			t.Errorf("a kill found no connection of the Sender's Store to terminate before every job was sent")
		}
	}
	// Time passes whenever the Sender waits for it, until every job is finished: past
	// the poll interval after a failed claim, past the lease of a job whose result was
	// lost.
	for {
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatalf("%d requests received, %d deliveries; the Sender is not idle: %v", len(recv.Requests()), n, err)
		}
		var pending int
		if err := appPool.QueryRow(ctx, `SELECT count(*) FROM webhook_jobs WHERE state IN ('scheduled', 'running')`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		clock.Advance(10 * time.Second)
	}

	ids := map[string]string{} // URI → webhook-id
	sent := 0
	for _, r := range recv.Requests() {
		id := r.Header.Get("Webhook-Id")
		if old, ok := ids[r.URI]; ok && old != id {
			t.Errorf("%s was sent as %s and as %s", r.URI, old, id)
		}
		ids[r.URI] = id
		sent++
	}
	if len(ids) != n {
		t.Errorf("%d users got their delivery, want %d", len(ids), n)
	}
	// A kill cuts short at most the jobs the Sender holds: on a fake clock, twice Workers.
	if dup := sent - len(ids); dup > kills*2*workers {
		t.Errorf("%d deliveries sent twice, want at most %d (those in flight at %d kills)", dup, kills*2*workers, kills)
	}
	var succeeded int
	if err := appPool.QueryRow(ctx, `SELECT count(*) FROM webhook_jobs WHERE state = 'succeeded'`).Scan(&succeeded); err != nil {
		t.Fatal(err)
	}
	logged, err := app.Attempts(ctx, webhook.AttemptQuery{Outcomes: []webhook.Outcome{webhook.Succeeded}})
	if err != nil {
		t.Fatal(err)
	}
	jobs := map[string]bool{}
	for _, a := range logged {
		jobs[a.JobID] = true
	}
	if attempts := len(jobs); succeeded != n || attempts != n {
		t.Errorf("%d deliveries succeeded, %d with a succeeded attempt logged; want %d", succeeded, attempts, n)
	}
	if errs.n.Load() == 0 {
		t.Error("no error was logged")
	}
	t.Logf("%d requests for %d deliveries, %d errors logged", sent, n, errs.n.Load())
}

// TestListeningConnectionKilled kills every connection of a Sender's Store, the one it
// listens on among them, three times, each time enqueueing a job from another Store at
// once. The Sender polls only hourly, on a clock that does not move, so only a notification
// can wake it: the listener connects again and looks for what was enqueued while it was away.
func TestListeningConnectionKilled(t *testing.T) {
	ctx, schema, recv, clock := sharedQueue(t)
	name := "webhook_fault_" + schema
	sender := faultSender(t, schema, name, clock, &errorCounter{}, time.Hour)
	if err := sender.SaveMessage(ctx, &webhook.Message{ID: "hook", URL: recv.URL + "/{{ user.id }}"}); err != nil {
		t.Fatal(err)
	}
	app := pgstore.New(faultPool(t, schema, "webhook_fault_app_"+schema))
	webhooktest.Start(t, sender)
	enqueueHooks(ctx, t, app, 0, 1)
	if _, err := recv.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		if killConnections(ctx, t, name) == 0 {
			t.Fatalf("round %d: no connection of the Sender's Store to terminate", round)
		}
		enqueueHooks(ctx, t, app, round, 1)
		if _, err := recv.Wait(ctx, round+1); err != nil {
			t.Fatalf("round %d: the delivery enqueued after the kill was not sent: %v", round, err)
		}
	}
}
