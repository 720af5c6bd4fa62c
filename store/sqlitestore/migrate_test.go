package sqlitestore_test

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/sqlitestore"
)

// TestMigrateFrom0001 upgrades a database that has only the first migration and a logged
// attempt and a scheduled job in it: the attempt counts for CountSent and the job can be held
// and cancelled.
func TestMigrateFrom0001(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooks.db")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	first, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	a, err := json.Marshal(webhook.Attempt{DeliveryID: "j0", MessageID: "m1", UserID: "u1", Number: 1, Time: at, Outcome: webhook.Succeeded})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{string(first), nil},
		{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY); INSERT INTO schema_migrations VALUES (1)`, nil},
		{`INSERT INTO attempts (delivery_id, message_id, user_id, time, data) VALUES ('j0', 'm1', 'u1', ?, ?)`,
			[]any{at.UnixNano(), string(a)}},
		{`INSERT INTO jobs (id, key, message_id, message_version, user_id, state, attempts, due_at, ready_at)
			VALUES ('j1', 'k1', 'm1', 1, 'u1', 'scheduled', 0, ?1, ?1)`, []any{at.UnixNano()}},
	} {
		if _, err := db.ExecContext(t.Context(), q.sql, q.args...); err != nil {
			t.Fatalf("setting up a 0001 database: %v", err)
		}
	}
	s := sqlitestore.New(db)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate from 0001: %v", err)
	}
	if n, err := s.CountSent(t.Context(), "u1", "", at); err != nil || n != 1 {
		t.Errorf("CountSent after the upgrade = %d, %v; want 1: attempts logged before it count", n, err)
	}
	if n, err := s.HoldJobs(t.Context(), "m1"); err != nil || n != 1 {
		t.Errorf("HoldJobs after the upgrade = %d, %v; want 1", n, err)
	}
	if jobs, err := s.Cancel(t.Context(), webhook.JobFilter{UserID: "u1"}); err != nil || len(jobs) != 1 || jobs[0].Unless != "" {
		t.Errorf("Cancel after the upgrade = %+v, %v; want job j1, with no Unless", jobs, err)
	}
}
