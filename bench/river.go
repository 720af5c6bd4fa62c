package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// postArgs is River's job: POST the payload to the receiver.
type postArgs struct {
	EnqueuedUS int64 `json:"enqueued_us"`
}

// Kind names the job kind in River's tables.
func (postArgs) Kind() string { return "hookline_bench_post" }

// postWorker works postArgs jobs, with the job's ID as webhook-id.
type postWorker struct {
	river.WorkerDefaults[postArgs]
	client *http.Client
	url    string
}

// Work sends the job's POST; a failure is retried by River.
func (w *postWorker) Work(ctx context.Context, job *river.Job[postArgs]) error {
	return post(ctx, w.client, w.url, strconv.FormatInt(job.ID, 10), job.Args.EnqueuedUS)
}

// riverInsertBatch is how many jobs one InsertMany call of a burst inserts, as in River's own
// benchmark.
const riverInsertBatch = 5_000

// riverSystem is a River client with workers workers, on a fresh schema or database.
type riverSystem[TTx any] struct {
	client  *river.Client[TTx]
	http    *http.Client
	cleanup func(context.Context) error
}

// newRiverClient migrates River's tables into schema and returns a client tuned as River's
// benchmark tunes it.
func newRiverClient[TTx any](ctx context.Context, e *env, driver riverdriver.Driver[TTx], schema string) (*riverSystem[TTx], error) {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: e.log})
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("river: migrate: %w", err)
	}
	hc := newHTTPClient(e.workers)
	workers := river.NewWorkers()
	river.AddWorker(workers, &postWorker{client: hc, url: e.url})
	client, err := river.NewClient(driver, &river.Config{
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            e.log,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: e.workers}},
		Schema:            schema,
		Workers:           workers,
	})
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	return &riverSystem[TTx]{client: client, http: hc}, nil
}

// newRiverPG is River on a fresh schema of the Postgres server.
func newRiverPG(ctx context.Context, e *env) (system, error) {
	pool, schema, cleanup, err := e.pg.freshPool(ctx, "river")
	if err != nil {
		return nil, err
	}
	r, err := newRiverClient(ctx, e, riverpgxv5.New(pool), schema)
	if err != nil {
		return nil, errors.Join(err, cleanup(ctx))
	}
	r.cleanup = cleanup
	return r, nil
}

// newRiverSQLite is River on a fresh SQLite file, through one connection as River's driver
// asks (SQLite has one writer, and River's concurrent calls fail with SQLITE_BUSY otherwise).
func newRiverSQLite(ctx context.Context, e *env) (system, error) {
	db, cleanup, err := e.sqlite("river", 1)
	if err != nil {
		return nil, err
	}
	r, err := newRiverClient(ctx, e, riversqlite.New(db), "")
	if err != nil {
		return nil, errors.Join(err, cleanup())
	}
	r.cleanup = func(context.Context) error { return cleanup() }
	return r, nil
}

func (r *riverSystem[TTx]) enqueueOne(ctx context.Context, _ int, us int64) error {
	_, err := r.client.Insert(ctx, postArgs{EnqueuedUS: us}, nil)
	return err
}

func (r *riverSystem[TTx]) enqueueBurst(ctx context.Context, n int) error {
	now := time.Now().UnixMicro()
	batch := make([]river.InsertManyParams, 0, riverInsertBatch)
	for i := range n {
		batch = append(batch, river.InsertManyParams{Args: postArgs{EnqueuedUS: now}})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := r.client.InsertMany(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

func (r *riverSystem[TTx]) start(ctx context.Context) error { return r.client.Start(ctx) }

func (r *riverSystem[TTx]) stop(ctx context.Context) error { return r.client.Stop(ctx) }

func (r *riverSystem[TTx]) close(ctx context.Context) error {
	r.http.CloseIdleConnections()
	return r.cleanup(ctx)
}
