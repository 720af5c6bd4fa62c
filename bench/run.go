package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// system is one way of sending webhooks, measured on one run: made fresh by its opener
// (fresh tables), then enqueued to, started and stopped, then closed (tables dropped).
type system interface {
	// enqueueOne enqueues delivery i, enqueued at us (Unix µs), to be sent once started.
	enqueueOne(ctx context.Context, i int, us int64) error
	// enqueueBurst enqueues n deliveries by the system's bulk path.
	enqueueBurst(ctx context.Context, n int) error
	// start starts sending; stop waits for the sends under way and stops.
	start(ctx context.Context) error
	stop(ctx context.Context) error
	// close removes everything the system made.
	close(ctx context.Context) error
}

// env is what a system's opener is given for one run.
type env struct {
	url       string    // the receiver's
	workers   int       // how many deliveries are sent at once
	producers int       // goroutines that enqueue concurrently
	n         int       // deliveries in the run
	pg        *postgres // the Postgres server, nil if no system uses it
	dir       string    // where SQLite files go
	log       *slog.Logger
}

// sqlite opens a fresh SQLite file of the run, with the settings the library's sqlitestore
// documents (WAL, synchronous NORMAL, a busy timeout, immediate write transactions) and
// conns connections kept open; the returned function closes and removes it.
func (e *env) sqlite(kind string, conns int) (*sql.DB, func() error, error) {
	dir, err := os.MkdirTemp(e.dir, kind+"-")
	if err != nil {
		return nil, nil, err
	}
	dsn := "file:" + filepath.Join(dir, "bench.db") +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, nil, errors.Join(err, os.RemoveAll(dir))
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, func() error { return errors.Join(db.Close(), os.RemoveAll(dir)) }, nil
}

// A shape is how deliveries come.
const (
	burst   = "burst"   // all enqueued first, then drained
	steady  = "steady"  // enqueued one at a time by producers as fast as they go, while sent
	offered = "offered" // enqueued one at a time at a paced rate, while sent
)

// spec is a system the benchmark can run.
type spec struct {
	name string // backend, or backend/how for the library
	ref  string // the peer its rate is compared with: the River on the same database
	open func(context.Context, *env) (system, error)
}

// specs returns the systems that can run in shape.
func specs(shape string) []spec {
	lib := func(kind, how, ref string) spec {
		return spec{kind + "/" + how, ref, func(ctx context.Context, e *env) (system, error) {
			return newHookline(ctx, e, kind, how)
		}}
	}
	hows := []string{bySend, byTrigger}
	if shape == burst {
		hows = []string{byCampaign, bySend}
	}
	out := []spec{
		{"raw", "", newRaw},
		{"river-pg", "", newRiverPG},
		{"river-sqlite", "", newRiverSQLite},
		{"proto-batch", "river-pg", newBatchRows},
	}
	for _, b := range []struct{ kind, ref string }{{"pgstore", "river-pg"}, {"sqlitestore", "river-sqlite"}, {"memstore", ""}} {
		for _, how := range hows {
			out = append(out, lib(b.kind, how, b.ref))
		}
	}
	return out
}

// selected returns the specs of shape that filter names, by whole name or by backend.
func selected(shape string, filter []string) []spec {
	var out []spec
	for _, s := range specs(shape) {
		backend, _, _ := strings.Cut(s.name, "/")
		if slices.Contains(filter, "all") || slices.Contains(filter, s.name) || slices.Contains(filter, backend) {
			out = append(out, s)
		}
	}
	return out
}

// usesPostgres reports whether a spec needs the Postgres server.
func usesPostgres(s spec) bool {
	return s.name == "river-pg" || s.name == "proto-batch" || strings.HasPrefix(s.name, "pgstore/")
}

// plan is one run to do.
type plan struct {
	round   int
	shape   string
	workers int
	spec    spec
}

// result is what one run measured.
type result struct {
	plan
	n       int
	load    float64       // one-minute load average at the start
	enqueue time.Duration // from the first enqueue to the last one's return
	elapsed time.Duration // burst: from start to the last arrival; otherwise from the first enqueue
	p50     time.Duration // enqueue to arrival, steady and offered only
	p99     time.Duration
	cpu     time.Duration // the process's
	pgCPU   time.Duration // the systems' Postgres server processes', with pg set
	wal     int64         // bytes of write-ahead log, with pg set
	pg      bool          // whether pgCPU and wal were measured
	tally   tally
	err     error
}

// rate is deliveries per second, or 0 if the run failed.
func (r *result) rate() float64 {
	if r.err != nil || r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

// options are the command's settings that shape a run.
type options struct {
	n         int
	offeredN  int
	rate      float64 // offered deliveries per second
	producers int
	timeout   time.Duration
	dir       string
	pg        *postgres
	log       *slog.Logger
}

// runOne runs p: a fresh receiver and system, the shape's enqueues and sends, within
// o.timeout. Its error is in the result.
func runOne(ctx context.Context, o *options, p plan) (res result) {
	res = result{plan: p, n: o.n}
	if p.shape == offered {
		res.n = o.offeredN
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	recv, err := newReceiver(res.n)
	if err != nil {
		res.err = err
		return res
	}
	defer recv.close()
	e := &env{url: recv.URL, workers: p.workers, producers: o.producers, n: res.n, pg: o.pg, dir: o.dir, log: o.log}
	sys, err := p.spec.open(ctx, e)
	if err != nil {
		res.err = fmt.Errorf("open: %w", err)
		return res
	}
	defer func() {
		// Even after a timeout: give it its own bound.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := sys.close(cctx); err != nil && res.err == nil {
			res.err = fmt.Errorf("close: %w", err)
		}
	}()
	pg := o.pg != nil && usesPostgres(p.spec)
	if pg {
		if err := o.pg.settle(ctx); err != nil {
			res.err = err
			return res
		}
	}
	res.load, _ = loadAverage() // 0 where there is no /proc
	var cpu0 time.Duration
	var pg0 pgSample
	measure := func() (err error) {
		if cpu0, err = processCPU(); err != nil {
			return err
		}
		if pg {
			pg0, err = o.pg.sample(ctx)
		}
		return err
	}

	started, err := drive(ctx, o, p.shape, sys, recv, measure, &res)
	if started {
		// Stop even after an error or a timeout, within a bound of its own.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err = errors.Join(err, sys.stop(sctx))
		cancel()
	}
	res.err = err
	if cpu1, err := processCPU(); err == nil {
		res.cpu = cpu1 - cpu0
	}
	if pg0.cpu != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		res.pgCPU, res.wal, err = o.pg.since(sctx, pg0)
		cancel()
		res.pg = err == nil
		res.err = errors.Join(res.err, err)
	}
	res.tally = recv.tally()
	if p.shape != burst {
		res.p50, res.p99 = latencyPercentiles(res.tally.latencies)
	}
	return res
}

// drive enqueues and sends the run's deliveries as the shape says and waits for the last
// to arrive, filling in res's times. It calls measure where the CPU and WAL it reports start
// to count: in a burst after the enqueue, so that they cover the drain that the rate times;
// otherwise before the first enqueue. It reports whether it started the system.
func drive(ctx context.Context, o *options, shape string, sys system, recv *receiver, measure func() error, res *result) (started bool, err error) {
	if shape == burst {
		t0 := time.Now()
		if err := sys.enqueueBurst(ctx, res.n); err != nil {
			return false, fmt.Errorf("enqueue: %w", err)
		}
		res.enqueue = time.Since(t0)
		if err := measure(); err != nil {
			return false, err
		}
		t1 := time.Now()
		if err := sys.start(ctx); err != nil {
			return false, fmt.Errorf("start: %w", err)
		}
		err := wait(ctx, recv)
		if err == nil {
			res.elapsed = recv.tally().last.Sub(t1)
		}
		return true, err
	}
	if err := measure(); err != nil {
		return false, err
	}
	if err := sys.start(ctx); err != nil {
		return false, fmt.Errorf("start: %w", err)
	}
	t0 := time.Now()
	var stamp func(i int) int64
	if shape == offered {
		stamp = paced(ctx, t0, o.rate)
	} else {
		stamp = func(int) int64 { return nowUS() }
	}
	err = concurrently(ctx, o.producers, res.n, func(i int) error { return sys.enqueueOne(ctx, i, stamp(i)) })
	res.enqueue = time.Since(t0)
	if err != nil {
		return true, fmt.Errorf("enqueue: %w", err)
	}
	err = wait(ctx, recv)
	if err == nil {
		res.elapsed = recv.tally().last.Sub(t0)
	}
	return true, err
}

// paced returns a stamp function for an offered load of rate deliveries per second from t0:
// it waits until delivery i is due, at t0 + i/rate, and returns that due time, so that an
// enqueuer that falls behind counts its lateness as latency (no coordinated omission).
func paced(ctx context.Context, t0 time.Time, rate float64) func(i int) int64 {
	return func(i int) int64 {
		due := t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		return due.UnixMicro()
	}
}

// wait waits for every delivery to arrive.
func wait(ctx context.Context, recv *receiver) error {
	select {
	case <-recv.done:
		return nil
	case <-ctx.Done():
		t := recv.tally()
		return fmt.Errorf("%d of %d arrived: %w", t.distinct, recv.want, ctx.Err())
	}
}

// nowUS returns the time in Unix microseconds.
func nowUS() int64 { return time.Now().UnixMicro() }

// concurrently calls f(i) for each i in [0, n) from goroutines goroutines, and returns the
// first error, after which it calls f no more. It returns ctx's error if ctx ends first.
func concurrently(ctx context.Context, goroutines, n int, f func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	failed := make(chan struct{})
	for range min(goroutines, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				select {
				case <-failed:
					return
				default:
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err; close(failed) })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
