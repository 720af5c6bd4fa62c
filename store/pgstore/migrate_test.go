package pgstore_test

import (
	"context"
	"io/fs"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rebuildAt empties the pool's schema and applies the migrations up to version alone, as a
// database made before the later ones were; then it runs stmts, which put data in it.
func rebuildAt(t *testing.T, pool *pgxpool.Pool, version int, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `DO $$ DECLARE t text; BEGIN
			FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'webhook_migrations' LOOP
				EXECUTE 'DROP TABLE ' || quote_ident(t) || ' CASCADE';
			END LOOP;
		END $$`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM webhook_migrations WHERE version > $1`, version); err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(pgstore.Migrations, "*.sql") // in version order
	if err != nil {
		t.Fatal(err)
	}
	var migrations []string
	for _, name := range names[:version] {
		sql, err := fs.ReadFile(pgstore.Migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		migrations = append(migrations, string(sql))
	}
	for _, st := range append(migrations, stmts...) {
		if _, err := pool.Exec(ctx, st); err != nil {
			t.Fatalf("%.60s: %v", st, err)
		}
	}
}

// TestMigrateFrom001 checks that Migrate brings a database made by migration 001 alone, with
// a job and an attempt in it, up to date: the job has no Unless event and can be held and
// claimed, and the attempt counts toward caps.
func TestMigrateFrom001(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	rebuildAt(t, pool, 1,
		`INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, state, created_at, due_at)
			VALUES ('old', 'old', 'm', 1, 'u1', 'scheduled', '2026-11-23T09:00:00Z', '2026-11-23T09:00:00Z')`,
		`INSERT INTO webhook_attempts (delivery_id, message_id, message_version, user_id, number, time,
			duration, method, url, status_code, error, outcome)
			VALUES ('sent', 'other', 1, 'u1', 1, '2026-11-23T09:00:00Z', 0, 'POST', 'http://example.test/', 200, '', 'succeeded')`)
	s := pgstore.New(pool)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if j := job(t, s, "old"); j.Unless != "" || j.State != webhook.JobScheduled {
		t.Errorf("job old after Migrate = %+v; want it scheduled, with no Unless", j)
	}
	sent, err := s.Attempts(ctx, webhook.AttemptQuery{UserID: "u1", Outcomes: []webhook.Outcome{webhook.Succeeded}, Since: epoch, Brief: true})
	if err != nil || len(sent) != 1 || sent[0].JobID != "sent" || sent[0].IgnoreCaps {
		t.Errorf("succeeded attempts of u1 after Migrate = %+v, %v; want the old attempt, counting toward caps", sent, err)
	}
	hold := webhook.UpdateJobsParams{Filter: webhook.JobFilter{MessageID: "m"}, From: []webhook.JobState{webhook.JobScheduled}, To: webhook.JobHeld}
	if got, err := s.UpdateJobs(ctx, hold); err != nil || len(got) != 1 {
		t.Errorf("holding m's jobs after Migrate = %v, %v; want the old job", got, err)
	}
	hold.From, hold.To = []webhook.JobState{webhook.JobHeld}, webhook.JobScheduled
	if got, err := s.UpdateJobs(ctx, hold); err != nil || len(got) != 1 {
		t.Errorf("releasing m's jobs after Migrate = %v, %v; want the old job", got, err)
	}
	if js := claim(t, s, epoch, "w", 10).Jobs; len(js) != 1 || js[0].ID != "old" {
		t.Errorf("Claim after Migrate = %v; want the old job", js)
	}
	// 006: the old job is listed and counted, the old attempt has the host of its URL.
	if jobs, err := s.FindJobs(ctx, webhook.FindJobsParams{Query: webhook.JobsQuery{MessageID: "m"}}); err != nil || len(jobs) != 1 {
		t.Errorf("FindJobs of m after Migrate = %v, %v; want the old job", jobs, err)
	}
	if cs, err := s.CountJobs(ctx, webhook.CountJobsParams{MessageIDs: []string{"m"}}); err != nil || len(cs) != 1 || cs[0].States[webhook.JobRunning] != 1 {
		t.Errorf("CountJobs of m after Migrate and a Claim = %+v, %v; want one running job", cs, err)
	}
	if as, err := s.Attempts(ctx, webhook.AttemptQuery{JobID: "sent"}); err != nil || len(as) != 1 || as[0].Host != "example.test" {
		t.Errorf("attempt of http://example.test/ after Migrate = %+v, %v; want Host example.test", as, err)
	}
}

// TestMigrateFrom002 checks that Migrate brings a database of Store contract v1 up to v2:
// events saved twice are kept once, messages are found by event at their current version,
// campaigns have a revision, and the attempt log names jobs.
func TestMigrateFrom002(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	rebuildAt(t, pool, 2,
		`INSERT INTO webhook_events (id, user_id, name, time) VALUES
			('e1', 'u1', 'order', '2026-11-23T09:00:00Z'), ('e1', 'u1', 'order', '2026-11-23T09:00:01Z'),
			('e1', 'u2', 'order', '2026-11-23T09:00:00Z')`,
		`INSERT INTO webhook_message_heads (id, version) VALUES ('hook', 2), ('news', 1)`,
		`INSERT INTO webhook_messages (id, version, trigger_event, data) VALUES
			('hook', 1, 'signup', '{"id": "hook", "url": "https://example.com/1"}'),
			('hook', 2, 'order', '{"id": "hook", "url": "https://example.com/2"}'),
			('news', 1, NULL, '{"id": "news", "url": "https://example.com/news"}')`,
		`INSERT INTO webhook_campaigns (message_id, message_version, run, state, started_at, occurrence, after_user, lease_owner)
			VALUES ('news', 1, 1, 'running', '2026-11-23T09:00:00Z', '', 'u5', '')`,
		`INSERT INTO webhook_attempts (delivery_id, message_id, message_version, user_id, number, time,
			duration, method, url, status_code, error, outcome)
			VALUES ('dlv_1', 'hook', 2, 'u1', 1, '2026-11-23T09:00:00Z', 0, 'POST', 'https://example.com/2', 500, 'boom', 'retrying')`)
	s := pgstore.New(pool)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if es, err := s.Events(ctx, webhook.EventQuery{UserID: "u1"}); err != nil || len(es) != 1 || !es[0].Time.Equal(epoch) {
		t.Errorf("Events(u1) after Migrate = %v, %v; want e1 once, the first saved", es, err)
	}
	res, err := s.Enqueue(ctx, webhook.EnqueueParams{Events: []webhook.Event{{ID: "e1", UserID: "u2", Name: "order", Time: epoch}}})
	if err != nil {
		t.Fatal(err)
	}
	if es, err := s.Events(ctx, webhook.EventQuery{UserID: "u2"}); err != nil || len(es) != 1 {
		t.Errorf("Events(u2) after enqueuing e1 again = %v, %v (%v); want it once", es, err, res)
	}
	for event, want := range map[string]int{"order": 2, "signup": 0} {
		ms, err := s.Messages(ctx, webhook.MessageQuery{Event: event})
		if got := len(ms); err != nil || got != min(want, 1) || got == 1 && ms[0].Version != want {
			t.Errorf("Messages(event %s) after Migrate = %+v, %v; want version %d of hook, if any", event, ms, err, want)
		}
	}
	if err := s.DeleteMessage(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	if ms, err := s.Messages(ctx, webhook.MessageQuery{Event: "order"}); err != nil || len(ms) != 0 {
		t.Errorf("Messages(event order) after DeleteMessage = %v, %v; want none", ms, err)
	}
	c, err := s.Campaigns(ctx, webhook.CampaignQuery{MessageIDs: []string{"news"}})
	if err != nil || len(c) != 1 || c[0].Rev != 1 || c[0].After != "u5" {
		t.Fatalf("Campaigns(news) after Migrate = %+v, %v; want it at rev 1", c, err)
	}
	if err := s.PutCampaign(ctx, c[0]); err != nil || c[0].Rev != 2 {
		t.Errorf("PutCampaign(news at rev 1) = rev %d, %v; want rev 2", c[0].Rev, err)
	}
	if as, err := s.Attempts(ctx, webhook.AttemptQuery{JobID: "dlv_1"}); err != nil || len(as) != 1 || as[0].Err != "boom" {
		t.Errorf("Attempts(job dlv_1) after Migrate = %+v, %v; want the old attempt", as, err)
	}
}

// TestMigrateFrom007 checks that Migrate moves the dedupe keys of the jobs saved before
// migration 008 out of webhook_jobs and keeps them, and keeps events unique by user and ID
// and jobs listed when it changes their keys: enqueuing a job under an old job's key saves
// nothing and returns the old job's ID, an old event saved again is kept once, and deleting
// the old job frees its key and takes it off the list.
func TestMigrateFrom007(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	rebuildAt(t, pool, 7,
		`INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, state, created_at, due_at)
			VALUES ('old', 'k', 'm', 1, 'u1', 'scheduled', '2026-11-23T09:00:00Z', '2026-11-23T09:00:00Z')`,
		`INSERT INTO webhook_events (id, user_id, name, time) VALUES ('e1', 'u1', 'order', '2026-11-23T09:00:00Z')`)
	s := pgstore.New(pool)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, webhook.EnqueueParams{Events: []webhook.Event{{ID: "e1", UserID: "u1", Name: "order", Time: epoch.Add(time.Second)}}}); err != nil {
		t.Fatal(err)
	}
	if es, err := s.Events(ctx, webhook.EventQuery{UserID: "u1"}); err != nil || len(es) != 1 || !es[0].Time.Equal(epoch) {
		t.Errorf("Events(u1) after enqueuing e1 again = %v, %v; want e1 once, the first saved", es, err)
	}
	list := func() []*webhook.Job {
		t.Helper()
		js, err := s.FindJobs(ctx, webhook.FindJobsParams{Query: webhook.JobsQuery{UserID: "u1"}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	if js := list(); len(js) != 1 || js[0].ID != "old" {
		t.Errorf("FindJobs(u1) after Migrate = %v, want the old job", js)
	}
	again := newJob(1, epoch)
	again.Key = "k"
	res, err := s.Enqueue(ctx, webhook.EnqueueParams{Jobs: []*webhook.Job{again}})
	if err != nil || len(res.JobIDs) != 1 || res.JobIDs[0] != "old" {
		t.Fatalf("Enqueue of a job under the old job's key = %v, %v; want the old job's ID", res.JobIDs, err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM webhook_jobs WHERE id = 'old'`); err != nil {
		t.Fatal(err)
	}
	if js := list(); len(js) != 0 {
		t.Errorf("FindJobs(u1) after the old job was deleted = %v, want none", js)
	}
	res, err = s.Enqueue(ctx, webhook.EnqueueParams{Jobs: []*webhook.Job{again}})
	if err != nil || len(res.JobIDs) != 1 || res.JobIDs[0] != again.ID {
		t.Errorf("Enqueue under the key of a deleted job = %v, %v; want the new job's ID %s", res.JobIDs, err, again.ID)
	}
}

// TestMigrations checks the file system of migrations that other tools read: its files are
// named and begin as goose and golang-migrate expect, and Migrate applies them all.
func TestMigrations(t *testing.T) {
	fsys := pgstore.Migrations
	names, err := fs.Glob(fsys, "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 3 {
		t.Fatalf("Migrations() holds %v, want the migrations", names)
	}
	for i, name := range names {
		if want := strconv.Itoa(1000 + i + 1)[1:] + "_"; !strings.HasPrefix(name, want) || !strings.HasSuffix(name, ".up.sql") {
			t.Errorf("migration %d is named %q, want %s<name>.up.sql", i+1, name, want)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(string(b), "\n"); first != "-- +goose Up" {
			t.Errorf("migration %s begins %q, want -- +goose Up", name, first)
		}
	}
	if err := fstest.TestFS(fsys, names...); err != nil {
		t.Error(err)
	}
	var applied []int
	pool := newPool(t, newSchema(t))
	rows, err := pool.Query(context.Background(), `SELECT version FROM webhook_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, v)
	}
	if len(applied) != len(names) || applied[len(applied)-1] != len(names) {
		t.Errorf("Migrate applied versions %v, want 1 to %d", applied, len(names))
	}
}

// An attempt logged before migration 009, whose headers were jsonb, reads back with the same
// headers after it (quotes, backslashes and non-ASCII among them), beside one logged after it.
func TestMigrateFrom008(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	rebuildAt(t, pool, 8,
		`INSERT INTO webhook_attempts (job_id, message_id, message_version, user_id, number, time, duration,
			method, url, request_header, request_body, status_code, response_header, response_body, error, outcome)
		VALUES ('old', 'm', 1, 'u1', 1, '2026-11-23T09:00:00Z', 1000, 'POST', 'https://example.com/hook',
			'{"Content-Type": ["application/json"], "Webhook-Id": ["old"], "Link": ["<a>; rel=\"next\""], "X-Name": ["é\\x"]}', '{}', 200,
			'{"Content-Length": ["0"]}', '', '', 'succeeded')`)
	s := pgstore.New(pool)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	j := newJob(1, epoch)
	enqueue(t, s, j)
	got := claim(t, s, epoch, "a", 1).Jobs
	if len(got) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(got))
	}
	got[0].State, got[0].Attempts = webhook.JobSucceeded, 1
	a := &webhook.Attempt{JobID: j.ID, MessageID: j.MessageID, MessageVersion: 1, UserID: j.UserID, Number: 1,
		Time: epoch.Add(time.Minute), Method: "POST", URL: "https://example.com/hook",
		RequestHeader: http.Header{"Webhook-Id": {j.ID}}, StatusCode: 204,
		ResponseHeader: http.Header{"X-Request-Id": {"r1"}}, Outcome: webhook.Succeeded}
	if errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: []webhook.Finished{{Job: got[0], Attempt: a}}}); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	as, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 {
		t.Fatalf("Attempts() = %d attempts, want 2", len(as))
	}
	want := []struct{ req, resp http.Header }{
		{http.Header{"Webhook-Id": {j.ID}}, http.Header{"X-Request-Id": {"r1"}}},
		{http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {"old"}, "Link": {`<a>; rel="next"`}, "X-Name": {`é\x`}},
			http.Header{"Content-Length": {"0"}}},
	}
	for i, w := range want { // newest first
		if !reflect.DeepEqual(as[i].RequestHeader, w.req) || !reflect.DeepEqual(as[i].ResponseHeader, w.resp) {
			t.Errorf("attempt %d headers = %v, %v; want %v, %v", i, as[i].RequestHeader, as[i].ResponseHeader, w.req, w.resp)
		}
	}
}

// TestMigrateFrom010 checks that migration 011 has the successes that Finish logs after it
// compressed with LZ4, where the server supports it, while the rows logged before it stay
// as they were written, and that the log reads both. On a server without LZ4 it checks that
// the migration applies and changes nothing the log reads.
func TestMigrateFrom010(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, newSchema(t))
	rebuildAt(t, pool, 10)
	s := pgstore.New(pool)
	body := strings.Repeat(`{"user":"u","event":"signup","plan":"pro"}`, 3)
	succeed := func(first int) {
		t.Helper()
		jobs := make([]*webhook.Job, 200) // enough for a row over PostgreSQL's 2 kB threshold
		for i := range jobs {
			jobs[i] = newJob(first+i, epoch)
		}
		enqueue(t, s, jobs...)
		claimed := claim(t, s, epoch, "a", len(jobs)).Jobs
		fs := finishAs(claimed, webhook.JobSucceeded, webhook.Succeeded)
		for _, f := range fs {
			f.Attempt.StatusCode, f.Attempt.RequestBody = 200, body
		}
		if errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: fs}); err != nil || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
			t.Fatal(err, errs)
		}
	}
	succeed(0)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	succeed(200)

	var lz4 bool
	var before string // the server's default, which the rows written before 011 have
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)),
		current_setting('default_toast_compression')`).Scan(&lz4, &before); err != nil {
		t.Fatal(err)
	}
	want := []string{before, before}
	if lz4 {
		want[1] = "lz4"
	}
	rows, err := pool.Query(ctx, `SELECT coalesce(pg_column_compression(request_bodies), 'none') FROM webhook_successes ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("compression of the success rows' request bodies, before and after migration 011 = %v, want %v", got, want)
	}
	as, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 400 {
		t.Fatalf("Attempts() = %d attempts, want 400", len(as))
	}
	for _, a := range as {
		if a.RequestBody != body {
			t.Fatalf("attempt of job %s: request body %q, want %q", a.JobID, a.RequestBody, body)
		}
	}
}
