package pgstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
)

// TestMigrateFrom001 checks that Migrate brings a database made by migration 001 alone, with
// a job and an attempt in it, up to date: the job has no Unless event and can be held and
// claimed, and the attempt counts toward caps.
func TestMigrateFrom001(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	// Start again from 001, as a database made before 002 was.
	init, err := os.ReadFile("migrations/001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{sql: `DO $$ DECLARE t text; BEGIN
			FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'webhook_migrations' LOOP
				EXECUTE 'DROP TABLE ' || quote_ident(t) || ' CASCADE';
			END LOOP;
		END $$`},
		{sql: `DELETE FROM webhook_migrations WHERE version > 1`},
		{sql: string(init)},
		{`INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, state, created_at, due_at)
			VALUES ('old', 'old', 'm', 1, 'u1', 'scheduled', $1, $1)`, []any{epoch}},
		{`INSERT INTO webhook_attempts (delivery_id, message_id, message_version, user_id, number, time,
			duration, method, url, status_code, error, outcome)
			VALUES ('sent', 'other', 1, 'u1', 1, $1, 0, 'POST', 'http://example.test/', 200, '', 'succeeded')`, []any{epoch}},
	} {
		if _, err := pool.Exec(ctx, st.sql, st.args...); err != nil {
			t.Fatalf("%.40s: %v", st.sql, err)
		}
	}
	s := pgstore.New(pool)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Job(ctx, "old"); err != nil || j.Unless != "" || j.State != webhook.JobScheduled {
		t.Errorf("Job(old) after Migrate = %+v, %v; want it scheduled, with no Unless", j, err)
	}
	if n, err := s.CountSent(ctx, "u1", "", epoch); err != nil || n != 1 {
		t.Errorf("CountSent after Migrate = %d, %v; want the old attempt counted", n, err)
	}
	if n, err := s.HoldJobs(ctx, "m"); err != nil || n != 1 {
		t.Errorf("HoldJobs after Migrate = %d, %v; want 1", n, err)
	}
	if n, err := s.ReleaseJobs(ctx, "m"); err != nil || n != 1 {
		t.Errorf("ReleaseJobs after Migrate = %d, %v; want 1", n, err)
	}
	if js, err := s.Claim(ctx, epoch, "w", time.Minute, 10); err != nil || len(js) != 1 || js[0].ID != "old" {
		t.Errorf("Claim after Migrate = %v, %v; want the old job", js, err)
	}
}
