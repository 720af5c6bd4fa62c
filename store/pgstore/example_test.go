package pgstore_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The transactional trigger: the order and the webhook about it are saved in one
// transaction, so the webhook is sent if and only if the order is saved.
func ExampleStore_WithTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store := pgstore.New(pool)
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	sender, err := webhook.NewSender(store, nil)
	if err != nil {
		log.Fatal(err)
	}

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders (id, user_id) VALUES ($1, $2)`, 42, "u1"); err != nil {
			return err // rolled back: no webhook
		}
		return sender.InTx(store.WithTx(tx)).Trigger(ctx, webhook.Event{
			UserID: "u1", Name: "order_placed", Params: map[string]any{"order": 42},
		})
	})
	if err != nil {
		log.Fatal(err)
	}
}

// The migrations, for a tool of your own: they are named and begin as golang-migrate and
// goose expect, so that either takes the file system as it is (see pgstore.Migrations).
func ExampleMigrations() {
	names, err := fs.Glob(pgstore.Migrations, "*")
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range names {
		fmt.Println(name)
	}
	// Output:
	// 001_init.up.sql
	// 002_roles.up.sql
	// 003_contract_v2.up.sql
	// 004_trace.up.sql
	// 005_variants_templates.up.sql
	// 006_inspector.up.sql
	// 007_events_by_name.up.sql
	// 008_lean_enqueue.up.sql
	// 009_attempt_headers_bytes.up.sql
	// 010_successes.up.sql
	// 011_successes_lz4.up.sql
}
