// Command bench measures this library's Sender side by side with River, the embeddable Go
// job queue, and with a raw net/http loop: the same small JSON POST to the same loopback
// receiver, which counts deliveries by their webhook-id header and checks that each arrived
// exactly once. It prints a markdown table; see README.md for how to read it.
//
// It is a module of its own so that the library's users never download River.
//
//	go run . -n 20000 -rounds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver of both sides
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	n, offeredN, rounds, producers, pgConns int
	rate                                    float64
	workers                                 []int
	shapes, systems                         []string
	dsn, cpuProfile, memProfile             string
	timeout                                 time.Duration
}

func parseFlags() (*config, error) {
	c := &config{}
	var workers, shapes, systems string
	dsn := os.Getenv("WEBHOOK_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	flag.IntVar(&c.n, "n", 20000, "deliveries per run of the burst and steady shapes")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds; each runs every system once per shape and worker count")
	flag.StringVar(&workers, "workers", "16,100", "worker counts, comma-separated")
	flag.StringVar(&shapes, "shapes", "burst,steady,offered", "shapes, comma-separated: burst, steady, offered")
	flag.StringVar(&systems, "systems", "all", "systems, comma-separated: all, raw, river-pg, river-sqlite, pgstore, sqlitestore, memstore, or one way in, such as pgstore/trigger")
	flag.IntVar(&c.producers, "producers", 16, "goroutines enqueuing at once")
	flag.IntVar(&c.offeredN, "offered-n", 5000, "deliveries per run of the offered shape")
	flag.Float64Var(&c.rate, "rate", 1000, "deliveries per second of the offered shape")
	flag.StringVar(&c.dsn, "pg", dsn, "PostgreSQL URL (the server must run on this machine); defaults to $WEBHOOK_TEST_POSTGRES")
	flag.IntVar(&c.pgConns, "pgconns", 0, "connections in each Postgres pool, River's and the library's alike; 0 is pgxpool's default")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "limit of each run")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole program, every run of every system, to this file (read it with go tool pprof)")
	flag.StringVar(&c.memProfile, "memprofile", "", "write an allocation profile of the whole program to this file when it ends (read it with go tool pprof -sample_index alloc_space)")
	flag.Parse()
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	for _, f := range strings.Split(workers, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 || w > 10000 {
			return nil, fmt.Errorf("-workers: %q is not a count from 1 to 10000", f)
		}
		c.workers = append(c.workers, w)
	}
	c.shapes = fields(shapes)
	for _, s := range c.shapes {
		if s != burst && s != steady && s != offered {
			return nil, fmt.Errorf("-shapes: unknown shape %q", s)
		}
	}
	c.systems = fields(systems)
	for _, s := range c.systems {
		if s != "all" && len(selected(burst, []string{s}))+len(selected(steady, []string{s})) == 0 {
			return nil, fmt.Errorf("-systems: unknown system %q", s)
		}
	}
	switch {
	case c.n < 1 || c.n > 1_000_000:
		return nil, fmt.Errorf("-n: %d is not from 1 to 1000000", c.n)
	case c.offeredN < 1 || c.offeredN > 1_000_000:
		return nil, fmt.Errorf("-offered-n: %d is not from 1 to 1000000", c.offeredN)
	case c.rounds < 1 || c.rounds > 100:
		return nil, fmt.Errorf("-rounds: %d is not from 1 to 100", c.rounds)
	case c.producers < 1 || c.producers > 1000:
		return nil, fmt.Errorf("-producers: %d is not from 1 to 1000", c.producers)
	case c.rate <= 0 || c.rate > 1e6:
		return nil, fmt.Errorf("-rate: %v is not above 0 and at most 1000000", c.rate)
	case c.pgConns < 0:
		return nil, fmt.Errorf("-pgconns: %d is negative", c.pgConns)
	case c.timeout <= 0:
		return nil, fmt.Errorf("-timeout: %v is not positive", c.timeout)
	}
	return c, nil
}

// fields splits a comma-separated list.
func fields(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run() error {
	c, err := parseFlags()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if c.memProfile != "" {
		defer func() {
			if err := writeAllocs(c.memProfile); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}()
	}

	var plans []plan
	needPG := false
	for round := range c.rounds {
		for _, w := range c.workers {
			for _, shape := range c.shapes {
				ss := selected(shape, c.systems)
				// Rotate the order each round, so that no system always runs first.
				for i := range ss {
					s := ss[(i+round)%len(ss)]
					plans = append(plans, plan{round: round, shape: shape, workers: w, spec: s})
					needPG = needPG || usesPostgres(s)
				}
			}
		}
	}
	if len(plans) == 0 {
		return fmt.Errorf("no system selected runs in shapes %v", c.shapes)
	}

	dir, err := os.MkdirTemp("", "hookline-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o := &options{
		n: c.n, offeredN: c.offeredN, rate: c.rate, producers: c.producers, timeout: c.timeout, dir: dir,
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if needPG {
		if o.pg, err = openPostgres(ctx, c.dsn, c.pgConns); err != nil {
			return fmt.Errorf("%w (set -pg, or leave the Postgres systems out with -systems)", err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := o.pg.close(cctx); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}()
	}

	fmt.Println(preamble(c, o))
	fmt.Println()
	results := make([]result, 0, len(plans))
	for i, p := range plans {
		if ctx.Err() != nil {
			break
		}
		r := runOne(ctx, o, p)
		results = append(results, r)
		fmt.Fprintln(os.Stderr, progress(i+1, len(plans), &r))
	}
	writeTable(os.Stdout, results)
	return ctx.Err()
}

// writeAllocs writes the allocation profile of the whole program to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// preamble says what was run, on what.
func preamble(c *config, o *options) string {
	riverVersion := "?"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/riverqueue/river" {
				riverVersion = d.Version
			}
		}
	}
	pool := "pgxpool's default"
	if c.pgConns > 0 {
		pool = strconv.Itoa(c.pgConns)
	}
	shapes := slices.Clone(c.shapes)
	for i, s := range shapes {
		if s == offered {
			shapes[i] = fmt.Sprintf("offered (%d at %g/s)", o.offeredN, c.rate)
		}
	}
	return fmt.Sprintf("%s: %d deliveries per run, %d rounds, shapes %s, %d producers, "+
		"Postgres pools of %s, River %s, %s, GOMAXPROCS %d, %d CPUs.",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), c.n, c.rounds, strings.Join(shapes, ", "),
		c.producers, pool, riverVersion, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
}

// progress is the line printed after each run.
func progress(i, total int, r *result) string {
	s := fmt.Sprintf("[%d/%d] round %d, %s, %d workers, %s: load %.2f", i, total, r.round+1, r.shape, r.workers, r.spec.name, r.load)
	if r.err != nil {
		return s + ", failed: " + r.err.Error()
	}
	s += fmt.Sprintf(", %.0f deliveries/s, enqueued in %v, CPU %d µs/delivery", r.rate(), r.enqueue.Round(time.Millisecond), r.cpu.Microseconds()/int64(r.n))
	if r.shape != burst {
		s += fmt.Sprintf(", p50 %v, p99 %v", r.p50, r.p99)
	}
	if r.pg {
		s += fmt.Sprintf(", PG CPU %d µs/delivery, WAL %d B/delivery", r.pgCPU.Microseconds()/int64(r.n), r.wal/int64(r.n))
	}
	if !r.tally.exact() {
		t := r.tally
		s += fmt.Sprintf(", NOT EXACTLY ONCE: %d duplicate, %d missing, %d extra, %d unreadable", t.duplicates, t.missing, t.extra, t.bad)
	}
	return s
}
