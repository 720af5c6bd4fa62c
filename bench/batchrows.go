package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// batchRows is not the library: it is a prototype of the queue design that issue 13 says the
// burst aims need, measured beside River and pgstore in the same run. A row of
// proto_batches carries up to batchRowJobs deliveries; a fetcher claims rows, their
// deliveries go to the workers, and once every delivery of a row is sent a completer marks
// the row done with its statuses, many rows a statement. It keeps no attempt log, has no
// retries (a failed POST only counts as an error) and no Inspector: it measures what the
// store's side of a delivery costs when a row carries a batch, nothing more.
type batchRows struct {
	pool    *pgxpool.Pool
	cleanup func(context.Context) error
	client  *http.Client
	url     string
	workers int

	nextID atomic.Int64
	errs   atomic.Int64
	held   atomic.Int64 // deliveries claimed and not yet sent
	todo   chan batchJob
	done   chan *batchRow
	wake   chan struct{} // a worker freed room
	quit   chan struct{} // closed by stop
	wg     sync.WaitGroup
	failed error // the fetcher's or completer's error; read after wg.Wait
	mu     sync.Mutex
}

// batchRowJobs is how many deliveries a row of a burst carries.
const batchRowJobs = 100

// batchRow is a claimed row: its deliveries' statuses, and how many are still to be sent.
type batchRow struct {
	id     int64
	status []int
	left   atomic.Int32
}

// batchJob is one delivery of a claimed row.
type batchJob struct {
	row *batchRow
	i   int
	id  string
	us  int64
}

// newBatchRows makes the prototype's table in a fresh schema.
func newBatchRows(ctx context.Context, e *env) (system, error) {
	pool, _, cleanup, err := e.pg.freshPool(ctx, "proto")
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE proto_batches (
			id      bigserial PRIMARY KEY,
			state   text NOT NULL DEFAULT 'available',
			jobs    jsonb NOT NULL,
			status  jsonb
		);
		CREATE INDEX proto_batches_available ON proto_batches (id) WHERE state = 'available'`); err != nil {
		return nil, errors.Join(fmt.Errorf("proto: %w", err), cleanup(ctx))
	}
	return &batchRows{pool: pool, cleanup: cleanup, client: newHTTPClient(e.workers), url: e.url, workers: e.workers,
		todo: make(chan batchJob, 4*e.workers+batchRowJobs), done: make(chan *batchRow, 1024),
		wake: make(chan struct{}, 1), quit: make(chan struct{})}, nil
}

// row returns the jobs column of a row of deliveries enqueued at us: [[id, us], …].
func (b *batchRows) row(n int, us int64) []byte {
	jobs := make([][2]any, n)
	for i := range jobs {
		jobs[i] = [2]any{"proto-" + strconv.FormatInt(b.nextID.Add(1), 10), us}
	}
	data, _ := json.Marshal(jobs) // strings and numbers always encode
	return data
}

func (b *batchRows) enqueueOne(ctx context.Context, _ int, us int64) error {
	_, err := b.pool.Exec(ctx, `INSERT INTO proto_batches (jobs) VALUES ($1)`, b.row(1, us))
	return err
}

func (b *batchRows) enqueueBurst(ctx context.Context, n int) error {
	now := time.Now().UnixMicro()
	var rows [][]byte
	for left := n; left > 0; left -= batchRowJobs {
		rows = append(rows, b.row(min(left, batchRowJobs), now))
		if len(rows) == riverInsertBatch/batchRowJobs || left <= batchRowJobs {
			if _, err := b.pool.Exec(ctx, `INSERT INTO proto_batches (jobs) SELECT unnest($1::jsonb[])`, rows); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	return nil
}

func (b *batchRows) start(ctx context.Context) error {
	var workers sync.WaitGroup
	for range b.workers {
		workers.Go(func() {
			for j := range b.todo {
				status := 200
				if err := post(ctx, b.client, b.url, j.id, j.us); err != nil {
					b.errs.Add(1)
					status = 0
				}
				j.row.status[j.i] = status
				if j.row.left.Add(-1) == 0 {
					b.done <- j.row
				}
				b.held.Add(-1)
				select {
				case b.wake <- struct{}{}:
				default:
				}
			}
		})
	}
	b.wg.Go(func() {
		err := b.fetch(ctx)
		close(b.todo)
		workers.Wait()
		close(b.done)
		b.setFailed(err)
	})
	b.wg.Go(func() { b.setFailed(b.complete(ctx)) })
	return nil
}

// fetch claims rows while fewer than twice the workers' deliveries are held, as River's
// producer does with its 2 ms cooldown and 20 ms poll, until stop.
func (b *batchRows) fetch(ctx context.Context) error {
	for {
		if room := 2*int64(b.workers) - b.held.Load(); room > 0 {
			n, err := b.claim(ctx, max(1, int(room)/batchRowJobs))
			if err != nil {
				return err
			}
			if n > 0 {
				continue
			}
		}
		wait := 2 * time.Millisecond
		if b.held.Load() == 0 {
			wait = 20 * time.Millisecond
		}
		select {
		case <-b.quit:
			return nil
		case <-b.wake:
		case <-time.After(wait):
		}
	}
}

// claim takes up to rows available rows and hands their deliveries to the workers; it
// returns how many rows it took.
func (b *batchRows) claim(ctx context.Context, rows int) (int, error) {
	res, err := b.pool.Query(ctx, `UPDATE proto_batches SET state = 'running'
		WHERE id IN (SELECT id FROM proto_batches WHERE state = 'available' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, jobs`, rows)
	if err != nil {
		return 0, err
	}
	var claimed []*batchRow
	var jobs [][]batchJob
	for res.Next() {
		var id int64
		var data []byte
		if err := res.Scan(&id, &data); err != nil {
			res.Close()
			return 0, err
		}
		var raw [][2]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			res.Close()
			return 0, err
		}
		r := &batchRow{id: id, status: make([]int, len(raw))}
		r.left.Store(int32(len(raw)))
		js := make([]batchJob, len(raw))
		for i, pair := range raw {
			js[i] = batchJob{row: r, i: i}
			if err := errors.Join(json.Unmarshal(pair[0], &js[i].id), json.Unmarshal(pair[1], &js[i].us)); err != nil {
				res.Close()
				return 0, err
			}
		}
		claimed, jobs = append(claimed, r), append(jobs, js)
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	for _, js := range jobs {
		b.held.Add(int64(len(js)))
		for _, j := range js {
			b.todo <- j
		}
	}
	return len(claimed), nil
}

// complete marks the rows whose deliveries were all sent done, with their statuses, every
// row that arrived while the statement before ran in one statement.
func (b *batchRows) complete(ctx context.Context) error {
	var failed error
	for first := range b.done {
		batch := []*batchRow{first}
	more:
		for {
			select {
			case r, ok := <-b.done:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		ids, statuses := make([]int64, len(batch)), make([][]byte, len(batch))
		for i, r := range batch {
			ids[i] = r.id
			statuses[i], _ = json.Marshal(r.status)
		}
		if _, err := b.pool.Exec(ctx, `UPDATE proto_batches p SET state = 'done', status = r.status
			FROM unnest($1::bigint[], $2::jsonb[]) AS r(id, status) WHERE p.id = r.id`, ids, statuses); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

func (b *batchRows) setFailed(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failed = errors.Join(b.failed, err)
}

func (b *batchRows) stop(ctx context.Context) error {
	close(b.quit)
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := b.errs.Load(); n > 0 {
		b.failed = errors.Join(b.failed, fmt.Errorf("proto: %d posts failed", n))
	}
	return b.failed
}

func (b *batchRows) close(ctx context.Context) error {
	b.client.CloseIdleConnections()
	return b.cleanup(ctx)
}
