package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/sqlitestore"
)

// A job enqueued on a sqlitestore survives the process: a new Store on the same file,
// as after a restart, finds it waiting.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "hooks")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "hooks.db") +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	ctx := context.Background()

	start := func() (*sql.DB, *webhook.Sender) {
		db, err := sql.Open("sqlite", dsn) // the driver is modernc.org/sqlite
		if err != nil {
			log.Fatal(err)
		}
		db.SetMaxOpenConns(8) // and keep them open: see the package doc
		db.SetMaxIdleConns(8)
		store := sqlitestore.New(db)
		if err := store.Migrate(ctx); err != nil {
			log.Fatal(err)
		}
		sender, err := webhook.NewSender(store, nil)
		if err != nil {
			log.Fatal(err)
		}
		return db, sender
	}

	db, sender := start()
	if err := sender.SaveMessage(ctx, &webhook.Message{ID: "welcome", URL: "https://example.com/hooks/welcome"}); err != nil {
		log.Fatal(err)
	}
	id, err := sender.Send(ctx, "welcome", "u1", nil, nil) // not started: the delivery waits
	if err != nil {
		log.Fatal(err)
	}
	db.Close()

	db, _ = start()
	defer db.Close()
	j, err := sqlitestore.New(db).Job(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(j.MessageID, j.UserID, j.State)
	// Output: welcome u1 scheduled
}
