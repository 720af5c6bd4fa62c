package main

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunOne runs every system in every shape on a few deliveries, through the loopback
// receiver, and checks that each arrived exactly once: it is the check that the benchmark
// still drives the library's API (hookline.go) and River as meant. The Postgres systems run
// when WEBHOOK_TEST_POSTGRES is set.
func TestRunOne(t *testing.T) {
	ctx := t.Context()
	o := &options{
		n: 40, offeredN: 20, rate: 10_000, producers: 4, timeout: time.Minute, dir: t.TempDir(),
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if dsn := os.Getenv("WEBHOOK_TEST_POSTGRES"); dsn != "" {
		pg, err := openPostgres(ctx, dsn, 4)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := pg.close(context.Background()); err != nil {
				t.Error(err)
			}
		})
		o.pg = pg
	}
	for _, shape := range []string{burst, steady, offered} {
		for _, s := range specs(shape) {
			t.Run(shape+"/"+s.name, func(t *testing.T) {
				if usesPostgres(s) && o.pg == nil {
					t.Skip("WEBHOOK_TEST_POSTGRES is not set; set it to a postgres:// URL to run the Postgres systems")
				}
				r := runOne(ctx, o, plan{shape: shape, workers: 3, spec: s})
				if r.err != nil {
					t.Fatal(r.err)
				}
				if !r.tally.exact() || r.tally.distinct != r.n {
					t.Errorf("tally = %+v, want each of %d once", r.tally, r.n)
				}
				if r.rate() <= 0 || r.enqueue <= 0 || r.cpu <= 0 {
					t.Errorf("rate %v, enqueue %v, cpu %v: want all positive", r.rate(), r.enqueue, r.cpu)
				}
				if shape != burst && (r.p50 <= 0 || r.p99 < r.p50) {
					t.Errorf("p50 %v, p99 %v: want 0 < p50 ≤ p99", r.p50, r.p99)
				}
				if usesPostgres(s) && (!r.pg || r.wal <= 0) {
					t.Errorf("pg measured %v, wal %d: want the WAL written measured", r.pg, r.wal)
				}
			})
		}
	}
	if o.pg != nil {
		if n := len(o.pg.schemas); n != 0 {
			t.Errorf("%d schemas left after the runs, want none", n)
		}
	}
}

func TestConcurrently(t *testing.T) {
	var calls [100]atomic.Int32
	if err := concurrently(t.Context(), 7, len(calls), func(i int) error { calls[i].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		if n := calls[i].Load(); n != 1 {
			t.Errorf("f(%d) called %d times, want 1", i, n)
		}
	}

	var after atomic.Int32
	boom := os.ErrInvalid
	err := concurrently(t.Context(), 1, 10, func(i int) error {
		if i == 3 {
			return boom
		}
		if i > 3 {
			after.Add(1)
		}
		return nil
	})
	if err != boom || after.Load() != 0 {
		t.Errorf("after an error at 3 of 10 on one goroutine: err %v, %d more calls; want %v and none", err, after.Load(), boom)
	}
}
