package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestDeliveryPathReadsByIndexAfterPlanningOnEmptyTables checks that the statements a job
// runs (and the cancellation by an Unless event that every trigger makes) keep reading by
// index when PostgreSQL planned them on empty tables, as on a new queue, and kept those
// plans as the tables grew: a sequential scan then reads the whole queue on every call. It
// also checks that they read only the rows they look up, not a whole table through an
// index, as a hash join kept from the empty tables would.
func TestDeliveryPathReadsByIndexAfterPlanningOnEmptyTables(t *testing.T) {
	ctx := context.Background()
	pool, err := openPool(ctx, dsn(t), 1, map[string]string{"search_path": newSchema(t)}) // one connection keeps every plan
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := pgstore.New(pool)
	deliver := func(n int) {
		t.Helper()
		for range n {
			var fs []webhook.Finished
			for _, j := range claim(t, s, epoch, "w", 4).Jobs {
				j.State = webhook.JobSucceeded
				fs = append(fs, webhook.Finished{Job: j, Attempt: &webhook.Attempt{JobID: j.ID, Time: epoch, Outcome: webhook.Succeeded}})
			}
			fs = append(fs, webhook.Finished{Job: newJob(-1, epoch)}) // ErrNotFound
			if _, err := s.Finish(ctx, webhook.FinishParams{Jobs: fs}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Users(ctx, webhook.UserQuery{IDs: []string{"u1"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Messages(ctx, webhook.MessageQuery{ID: "m"}); err != nil {
				t.Fatal(err)
			}
			cancel := webhook.UpdateJobsParams{Filter: webhook.JobFilter{UserID: "u1", Unless: "e", CreatedBefore: epoch},
				From: []webhook.JobState{webhook.JobScheduled, webhook.JobHeld}, To: webhook.JobCancelled, Now: epoch}
			if _, err := s.UpdateJobs(ctx, cancel); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliver(8) // past the five runs after which PostgreSQL may settle on a plan

	jobs := make([]*webhook.Job, 5000)
	for i := range jobs {
		jobs[i] = newJob(i, epoch)
		jobs[i].Unless = "e"
	}
	enqueue(t, s, jobs...)
	if err := s.PutUsers(ctx, webhook.PutUsersParams{Users: []webhook.UserUpdate{{User: webhook.User{ID: "u1"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMessage(ctx, &webhook.Message{ID: "m", URL: "https://example.com/"}); err != nil {
		t.Fatal(err)
	}
	// As many other users and messages as jobs, for the lookups to find them among.
	if _, err := pool.Exec(ctx, `INSERT INTO webhook_users (id, data)
			SELECT 'x' || g, jsonb_build_object('id', 'x' || g) FROM generate_series(1, 5000) g;
		INSERT INTO webhook_message_heads (id, version) SELECT 'x' || g, 1 FROM generate_series(1, 5000) g;
		INSERT INTO webhook_messages (id, version, data)
			SELECT 'x' || g, 1, jsonb_build_object('id', 'x' || g) FROM generate_series(1, 5000) g`); err != nil {
		t.Fatal(err)
	}
	scansBefore, readBefore := seqScans(t, pool), indexReads(t, pool)
	deliver(8)
	if after := seqScans(t, pool); after != scansBefore {
		t.Errorf("sequential scans of the webhook tables in 8 deliveries on a queue of 5,000 = %d, want 0: a plan made on an empty table was kept", after-scansBefore)
	}
	if read := indexReads(t, pool) - readBefore; read >= 5000 {
		t.Errorf("index entries read in 8 deliveries on tables of 5,000 rows = %d, want fewer than 5,000: a plan made on an empty table reads a whole table by index", read)
	}
}

// indexReads returns how many index entries of the webhook_* tables of the pool's schema
// the server has counted as read by index scans.
func indexReads(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	return count(t, pool, `SELECT coalesce(sum(idx_tup_read), 0)::bigint FROM pg_stat_user_indexes
		WHERE schemaname = current_schema() AND relname LIKE 'webhook\_%'`)
}

// seqReads returns how many rows of the webhook_* tables of the pool's schema the server has
// counted as read by sequential scans.
func seqReads(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	return count(t, pool, `SELECT coalesce(sum(seq_tup_read), 0)::bigint FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname LIKE 'webhook\_%'`)
}

// seqScans returns how many sequential scans of the webhook_* tables of the pool's schema
// the server has counted.
func seqScans(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	return count(t, pool, `SELECT coalesce(sum(seq_scan), 0)::bigint FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname LIKE 'webhook\_%'`)
}

// count returns the number that sql, a query of the server's statistics, reads.
func count(t *testing.T, pool *pgxpool.Pool, sql string) int64 {
	t.Helper()
	ctx := context.Background()
	// The server counts a connection's scans in shared memory at most once a second, unless
	// told to at the end of the next statement.
	if _, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(fmt.Errorf("read scan counts: %w", err))
	}
	return n
}

// TestEventWindowReadsOnlyTheWindow checks that Events of a window, for some names or for
// all, reads the index entries of the window's events and not the user's whole history, as
// the Store contract asks: an OptimalTime fan-out reads every user's events of the last
// weeks without names.
func TestEventWindowReadsOnlyTheWindow(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	s := pgstore.New(pool)
	// 3000 events of u1 over 3000 minutes, under three names, and a few of another user.
	for _, sql := range []string{
		`INSERT INTO webhook_events (id, user_id, name, time)
			SELECT 'e' || g, 'u1', (ARRAY['a', 'b', 'c'])[g % 3 + 1], $1::timestamptz + g * interval '1 minute'
			FROM generate_series(1, 3000) g`,
		`INSERT INTO webhook_events (id, user_id, name, time) SELECT 'e' || g, 'u2', 'a', $1 FROM generate_series(1, 10) g`,
	} {
		if _, err := pool.Exec(ctx, sql, epoch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE webhook_events`); err != nil {
		t.Fatal(err)
	}
	for _, names := range [][]string{nil, {"a", "c"}} {
		q := webhook.EventQuery{UserID: "u1", Names: names, Since: epoch.Add(1500 * time.Minute), Until: epoch.Add(1505 * time.Minute)}
		before := indexReads(t, pool) + seqReads(t, pool)
		events, err := s.Events(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		read := indexReads(t, pool) + seqReads(t, pool) - before
		if want := 6 - 2*min(len(names), 1); len(events) != want {
			t.Errorf("Events(names %v, 6 minutes) = %d events, want %d", names, len(events), want)
		}
		if read > 50 {
			t.Errorf("Events(names %v, 6 minutes) read %d rows or index entries of a history of 3000 events, want about the window's", names, read)
		}
	}
}
