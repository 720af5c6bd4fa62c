package pgstore_test

import (
	"context"
	"flag"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/store/storetest"
	"github.com/jackc/pgx/v5"
)

var audience1M = flag.Bool("audience1m", false, "run BenchmarkAudience1M, which loads a million users and about three million events (a few minutes)")

// BenchmarkAudience1M runs storetest.BenchAudience on a million users and about three
// million events, loaded with COPY in one transaction and analyzed. Run it with
//
//	go test ./store/pgstore -run '^$' -bench Audience1M -benchtime 1x -audience1m
func BenchmarkAudience1M(b *testing.B) {
	if !*audience1M {
		b.Skip("pass -audience1m to run it")
	}
	ctx := context.Background()
	pool := newPool(b, newSchema(b))
	var users, events [][]any
	storetest.AudiencePopulation(1_000_000, func(u webhook.User, data []byte) {
		users = append(users, []any{u.ID, string(data)})
	}, func(e webhook.Event, params []byte) {
		events = append(events, []any{e.ID, e.UserID, e.Name, string(params), e.Time})
	})
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"webhook_users"}, []string{"id", "data"}, pgx.CopyFromRows(users)); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"webhook_events"}, []string{"id", "user_id", "name", "params", "time"}, pgx.CopyFromRows(events))
		return err
	})
	if err == nil {
		_, err = pool.Exec(ctx, "ANALYZE")
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d users and %d events", len(users), len(events))
	users, events = nil, nil
	storetest.BenchAudience(b, pgstore.New(pool), func(b *testing.B) {
		if _, err := pool.Exec(ctx, "TRUNCATE webhook_jobs, webhook_job_keys, webhook_job_list, webhook_job_counts, webhook_campaigns, webhook_messages, webhook_message_heads"); err != nil {
			b.Fatal(err)
		}
	})
}
