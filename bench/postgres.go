package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// appName is the application_name of every connection a system under test opens, by which
// the benchmark finds their server processes; its own monitoring connection uses another.
const appName = "hookline-bench"

// postgres is the server the Postgres systems share: it hands out fresh schemas and pools
// and measures the server's work. It is safe for concurrent use.
type postgres struct {
	dsn   string
	conns int32 // pool size, or 0 for pgxpool's default

	mu      sync.Mutex // guards mon, schemas and seq
	mon     *pgx.Conn  // the monitoring connection
	schemas map[string]bool
	seq     int

	checkpoints bool // whether the role may run CHECKPOINT (see settle)
	vacuums     bool // whether the server's autovacuum is off and the role may vacuum the catalogs (see settle)
}

// openPostgres connects to the server at dsn, which must run on this machine for its CPU
// to be measured.
func openPostgres(ctx context.Context, dsn string, conns int) (*postgres, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.RuntimeParams["application_name"] = appName + "-monitor"
	mon, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	p := &postgres{dsn: dsn, conns: int32(conns), mon: mon, schemas: map[string]bool{}}
	// VACUUM skips, with a warning and no error, the tables the role may not vacuum: only a
	// superuser or the database's owner may vacuum its catalogs.
	var autovacuum string
	var mayVacuum bool
	if err := mon.QueryRow(ctx, `SELECT current_setting('autovacuum'), rolsuper OR pg_get_userbyid(datdba) = current_user
		FROM pg_roles, pg_database WHERE rolname = current_user AND datname = current_database()`).Scan(&autovacuum, &mayVacuum); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if autovacuum == "off" {
		if !mayVacuum {
			fmt.Fprintln(os.Stderr, "bench: the server's autovacuum is off and this role may not vacuum its catalogs before each run, so they bloat")
		}
		p.vacuums = mayVacuum
	}
	if _, err := mon.Exec(ctx, "CHECKPOINT"); err != nil {
		fmt.Fprintln(os.Stderr, "bench: no checkpoint before each run, so a run may pay for one:", err)
	} else {
		p.checkpoints = true
	}
	return p, nil
}

// vacuumCatalogs vacuums the catalogs that every run's schema writes rows of (with its
// tables, columns, indexes and their dependencies) and dropping it leaves dead.
const vacuumCatalogs = `VACUUM pg_catalog.pg_class, pg_catalog.pg_attribute, pg_catalog.pg_depend,
	pg_catalog.pg_type, pg_catalog.pg_index, pg_catalog.pg_constraint, pg_catalog.pg_namespace,
	pg_catalog.pg_attrdef, pg_catalog.pg_sequence, pg_catalog.pg_trigger, pg_catalog.pg_proc`

// settle prepares the server for a run, as far as the role may. It vacuums the catalogs if
// the server's autovacuum is off: each run's schema leaves some hundred dead rows in them,
// and a session's runs and tests had left 190,000 in pg_attribute alone here, which every
// lookup of a table's columns steps over. And it makes the server write a checkpoint, so
// that a run does not pay for one that the runs before it made due: after a checkpoint, the
// first change to each page writes the whole page to the WAL, and the checkpointer's writes
// compete for the disk. The server starts one every 5 minutes and every max_wal_size of WAL
// by default; a round of the bench writes some hundred MB.
func (p *postgres) settle(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.vacuums {
		if _, err := p.mon.Exec(ctx, vacuumCatalogs); err != nil {
			return fmt.Errorf("postgres: vacuum the catalogs: %w", err)
		}
	}
	if p.checkpoints {
		if _, err := p.mon.Exec(ctx, "CHECKPOINT"); err != nil {
			return fmt.Errorf("postgres: checkpoint: %w", err)
		}
	}
	return nil
}

// newSchema creates an empty schema named after the system's kind and returns its name.
func (p *postgres) newSchema(ctx context.Context, kind string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	name := fmt.Sprintf("hookline_bench_%s_%d_%d", kind, os.Getpid(), p.seq)
	if _, err := p.mon.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", fmt.Errorf("postgres: create schema %s: %w", name, err)
	}
	p.schemas[name] = true
	return name, nil
}

// dropSchema drops a schema newSchema made, with everything in it.
func (p *postgres) dropSchema(ctx context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.mon.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
		return fmt.Errorf("postgres: drop schema %s: %w", name, err)
	}
	delete(p.schemas, name)
	return nil
}

// pool opens a pool whose connections use schema and are named appName.
func (p *postgres) pool(ctx context.Context, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(p.dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if p.conns > 0 {
		cfg.MaxConns = p.conns
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return pool, nil
}

// freshPool makes a fresh schema named after the system's kind and a pool whose search path
// is it, and returns them with the function that closes the pool and drops the schema.
func (p *postgres) freshPool(ctx context.Context, kind string) (*pgxpool.Pool, string, func(context.Context) error, error) {
	schema, err := p.newSchema(ctx, kind)
	if err != nil {
		return nil, "", nil, err
	}
	pool, err := p.pool(ctx, schema)
	if err != nil {
		return nil, "", nil, errors.Join(err, p.dropSchema(ctx, schema))
	}
	cleanup := func(ctx context.Context) error {
		pool.Close()
		return p.dropSchema(ctx, schema)
	}
	return pool, schema, cleanup, nil
}

// pgSample is the server's state at one moment: the CPU time of each server process of the
// systems under test, and the end of the write-ahead log.
type pgSample struct {
	cpu map[int]time.Duration // by pid
	lsn string
}

// sample reads the server's state.
func (p *postgres) sample(ctx context.Context) (pgSample, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := pgSample{cpu: map[int]time.Duration{}}
	if err := p.mon.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&s.lsn); err != nil {
		return s, fmt.Errorf("postgres: wal position: %w", err)
	}
	rows, err := p.mon.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", appName)
	if err != nil {
		return s, fmt.Errorf("postgres: server processes: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return s, fmt.Errorf("postgres: server processes: %w", err)
	}
	var gone error // a process listed that has ended since, such as a pool's connection closed
	for _, pid := range pids {
		cpu, err := procCPU(int(pid))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			gone = err
		case err != nil:
			return s, fmt.Errorf("postgres: cpu of server process: %w", err)
		default:
			s.cpu[int(pid)] = cpu
		}
	}
	if gone != nil && len(s.cpu) == 0 {
		return s, fmt.Errorf("postgres: cpu of server process (is the server on this machine?): %w", gone)
	}
	return s, nil
}

// since returns the CPU time the systems' server processes used, and the bytes of
// write-ahead log written by anyone, between before and now. Processes that started since
// count whole; one that ended in between is not counted for that time (the pools keep
// their connections through a run, so this is rare).
func (p *postgres) since(ctx context.Context, before pgSample) (cpu time.Duration, wal int64, err error) {
	after, err := p.sample(ctx)
	if err != nil {
		return 0, 0, err
	}
	for pid, c := range after.cpu {
		cpu += c - before.cpu[pid]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err = p.mon.QueryRow(ctx, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint", after.lsn, before.lsn).Scan(&wal)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: wal written: %w", err)
	}
	return cpu, wal, nil
}

// close drops the schemas that are left, such as those of a run that failed, and closes
// the monitoring connection.
func (p *postgres) close(ctx context.Context) error {
	p.mu.Lock()
	var left []string
	for name := range p.schemas {
		left = append(left, name)
	}
	p.mu.Unlock()
	var first error
	for _, name := range left {
		if err := p.dropSchema(ctx, name); err != nil && first == nil {
			first = err
		}
	}
	if err := p.mon.Close(ctx); err != nil && first == nil {
		first = err
	}
	return first
}
