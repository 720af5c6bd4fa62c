package pgstore_test

import (
	"encoding/json"
	"flag"
	"iter"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/store/storetest"
	"github.com/jackc/pgx/v5"
)

var inspect1M = flag.Bool("inspect1m", false, "fill the Store of BenchmarkPages with 1,000,000 jobs and attempts (else 10,000)")

// BenchmarkPages measures the queries of the console's pages over a Store holding
// storetest.PagesData, saved with COPY. With -inspect1m it holds 1M jobs and 1M attempts:
//
//	go test ./store/pgstore -run '^$' -bench Pages -benchtime 100x -inspect1m
func BenchmarkPages(b *testing.B) {
	n := 10_000
	if *inspect1M {
		n = 1_000_000
	}
	pool := newPool(b, newSchema(b))
	jobs, attempts := storetest.PagesData(n)
	ctx := b.Context()
	copyRows := func(table string, columns []string, rows iter.Seq[[]any]) {
		next, stop := iter.Pull(rows)
		defer stop()
		src := pgx.CopyFromFunc(func() ([]any, error) {
			row, ok := next()
			if !ok {
				return nil, nil
			}
			return row, nil
		})
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{table}, columns, src); err != nil {
			b.Fatalf("copy %s: %v", table, err)
		}
	}
	copyRows("webhook_jobs", []string{"id", "key", "message_id", "message_version", "user_id", "state", "attempts", "created_at", "due_at"},
		func(yield func([]any) bool) {
			for j := range jobs {
				if !yield([]any{j.ID, j.Key, j.MessageID, j.MessageVersion, j.UserID, string(j.State), j.Attempts, j.CreatedAt, j.DueAt}) {
					return
				}
			}
		})
	copyRows("webhook_attempts", []string{"job_id", "message_id", "message_version", "user_id", "number", "time", "duration",
		"method", "url", "request_header", "request_body", "status_code", "response_body", "error", "outcome", "next_attempt_at", "host"},
		func(yield func([]any) bool) {
			header, _ := json.Marshal(map[string][]string{"Content-Type": {"application/json"}})
			for a := range attempts {
				var next any
				if !a.NextAttemptAt.IsZero() {
					next = a.NextAttemptAt
				}
				if !yield([]any{a.JobID, a.MessageID, a.MessageVersion, a.UserID, a.Number, a.Time, int64(a.Duration),
					a.Method, a.URL, header, []byte(a.RequestBody), a.StatusCode, []byte(a.ResponseBody), a.Err, string(a.Outcome), next, a.Host}) {
					return
				}
			}
		})
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE webhook_jobs, webhook_job_list, webhook_job_counts, webhook_attempts`); err != nil {
		b.Fatal(err)
	}
	var s webhook.Store = pgstore.New(pool)
	storetest.BenchPages(b, s, n)
}
