package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/sqlitestore"
)

// A job enqueued on a sqlitestore survives the process: a new Store on the same file, as
// after a restart, finds it waiting.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "hooks")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "hooks.db")
	ctx := context.Background()

	start := func() (*sql.DB, *sqlitestore.Store, *webhook.Sender) {
		db, err := sqlitestore.Open(ctx, "sqlite", path) // the driver is modernc.org/sqlite
		if err != nil {
			log.Fatal(err)
		}
		store := sqlitestore.New(db)
		if err := store.Migrate(ctx); err != nil {
			log.Fatal(err)
		}
		sender, err := webhook.NewSender(store, nil)
		if err != nil {
			log.Fatal(err)
		}
		return db, store, sender
	}

	db, _, sender := start()
	if err := sender.SaveMessage(ctx, &webhook.Message{ID: "welcome", URL: "https://example.com/hooks/welcome"}); err != nil {
		log.Fatal(err)
	}
	id, err := sender.Send(ctx, "welcome", "u1", nil, nil) // not started: the job waits
	if err != nil {
		log.Fatal(err)
	}
	db.Close()

	db, store, _ := start()
	defer db.Close()
	jobs, err := store.Jobs(ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{IDs: []string{id}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(jobs[0].MessageID, jobs[0].UserID, jobs[0].State)
	// Output: welcome u1 scheduled
}

// Migrations holds the migrations as SQL files for a migration tool, such as goose or
// golang-migrate, for apps that do not call Migrate.
func ExampleMigrations() {
	names, err := fs.Glob(sqlitestore.Migrations, "*.sql")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(names)
	// Output: [0001_init.up.sql 0002_trace.up.sql 0003_variants_templates.up.sql 0004_lean_indexes.up.sql 0005_inspector.up.sql]
}

// Sender.InTx, through a view of the Store on the app's transaction, records an event and
// enqueues its jobs with the app's own writes: they are saved if and only if the
// transaction commits.
func ExampleStore_WithTx() {
	dir, err := os.MkdirTemp("", "hooks")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqlitestore.Open(ctx, "sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store := sqlitestore.New(db)
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	sender, err := webhook.NewSender(store, nil)
	if err != nil {
		log.Fatal(err)
	}
	welcome := &webhook.Message{ID: "welcome", URL: "https://example.com/hooks/welcome",
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup"}}
	if err := sender.SaveMessage(ctx, welcome); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE accounts (id TEXT PRIMARY KEY)`); err != nil {
		log.Fatal(err)
	}

	// signup saves an account and triggers its signup in one transaction, which it commits
	// only if commit is true.
	signup := func(user string, commit bool) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id) VALUES (?)`, user); err != nil {
			return err
		}
		if err := sender.InTx(store.WithTx(tx)).Trigger(ctx, webhook.Event{UserID: user, Name: "signup"}); err != nil {
			return err
		}
		if !commit {
			return nil // the payment failed, say
		}
		return tx.Commit()
	}
	if err := signup("ann", true); err != nil {
		log.Fatal(err)
	}
	if err := signup("bob", false); err != nil {
		log.Fatal(err)
	}
	jobs, err := store.Jobs(ctx, webhook.JobQuery{})
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range jobs {
		fmt.Println(j.MessageID, j.UserID)
	}
	// Output: welcome ann
}
