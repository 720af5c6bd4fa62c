package sqlitestore

import (
	"context"
	"database/sql"
	"flag"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/storetest"
)

var inspect1M = flag.Bool("inspect1m", false, "fill the Store of BenchmarkPages with 1,000,000 jobs and attempts (else 10,000)")

// BenchmarkPages measures the queries of the console's pages over a Store holding
// storetest.PagesData, saved with the Store's own multi-row inserts in one transaction. With
// -inspect1m it holds 1M jobs and 1M attempts:
//
//	go test ./store/sqlitestore -run '^$' -bench Pages -benchtime 100x -inspect1m
func BenchmarkPages(b *testing.B) {
	n := 10_000
	if *inspect1M {
		n = 1_000_000
	}
	s, db := openMigrated(b)
	jobs, attempts := storetest.PagesData(n)
	ctx := b.Context()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	var rows [][]any
	var saved counts
	insert := func() {
		if len(rows) == 0 {
			return
		}
		if _, err := s.insertJobs(ctx, tx, rows, &saved); err != nil {
			b.Fatal(err)
		}
		rows = rows[:0]
	}
	for j := range jobs {
		args, err := enqueueArgs(j)
		if err != nil {
			b.Fatal(err)
		}
		if j.State.Ended() { // enqueueArgs saves jobs as Enqueue does: scheduled or held
			args[7], args[13] = j.State, sql.NullInt64{}
		}
		if rows = append(rows, args); len(rows) == maxChunk {
			insert()
		}
	}
	insert()
	if err := s.saveCounts(ctx, tx, saved); err != nil {
		b.Fatal(err)
	}
	var logged []*webhook.Attempt
	flush := func() {
		r, err := attemptRows(logged)
		if err == nil {
			err = s.insertAttempts(ctx, tx, r)
		}
		if err != nil {
			b.Fatal(err)
		}
		logged = logged[:0]
	}
	for a := range attempts {
		if logged = append(logged, a); len(logged) == 10*maxChunk {
			flush()
		}
	}
	flush()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(context.WithoutCancel(ctx), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	storetest.BenchPages(b, s, n)
}
