package sqlitestore_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/sqlitestore"
)

// exec runs each query on db, failing the test at the first error.
func exec(t *testing.T, db *sql.DB, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// openDB opens a new database file with the settings the Store needs, closed when t ends.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sqlitestore.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "hooks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// unprefixedDB returns a database as a Store made it before its tables were named
// webhook_*, with its first migrations up to version (testdata/legacy holds them) and,
// if migrations is true, its own schema_migrations table listing them.
func unprefixedDB(t *testing.T, version int, migrations bool) *sql.DB {
	t.Helper()
	db := openDB(t)
	files, err := filepath.Glob("testdata/legacy/*.sql")
	if err != nil || len(files) < version {
		t.Fatalf("testdata/legacy has %d migrations, want %d: %v", len(files), version, err)
	}
	for _, f := range files[:version] {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, db, string(src))
	}
	if migrations {
		exec(t, db, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`)
		for v := 1; v <= version; v++ {
			if _, err := db.ExecContext(t.Context(), `INSERT INTO schema_migrations VALUES (?)`, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	return db
}

// tables returns the names of the tables in db, sorted.
func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// TestMigrateUnprefixed upgrades a database made before the tables were named webhook_*,
// with a row in each table: the rows move to the new tables, read back as they were saved,
// and the old tables are gone.
func TestMigrateUnprefixed(t *testing.T) {
	at := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	user := webhook.User{ID: "u1", Email: "a@example.com", Attributes: webhook.Map{"plan": "pro"}}
	hello := &webhook.Message{ID: "hello", URL: "https://example.com/hello",
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup"}}
	// The old Store kept JSON as BLOBs, and an attempt's job ID as delivery_id.
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	attempt := []byte(`{"delivery_id":"j0","message_id":"hello","message_version":1,"user_id":"u1","number":1,` +
		`"time":"2001-02-03T04:05:06Z","duration":0,"status_code":200,"outcome":"succeeded"}`)

	db := unprefixedDB(t, 2, true)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, data) VALUES ('u1', ?)`, []any{marshal(user)}},
		// The old Store saved an event again for each Trigger with its ID.
		{`INSERT INTO events (id, user_id, name, time, params) VALUES ('e1', 'u1', 'signup', ?1, '{"n":1}'), ('e1', 'u1', 'signup', ?1, '{"n":2}')`,
			[]any{at.UnixNano()}},
		{`INSERT INTO messages (id, version, trigger_event, data) VALUES ('hello', 1, 'signup', ?), ('hello', 2, NULL, ?)`,
			[]any{marshal(&webhook.Message{ID: "hello", Version: 1, URL: hello.URL, Delivery: hello.Delivery}),
				marshal(&webhook.Message{ID: "hello", Version: 2, URL: hello.URL})}},
		{`INSERT INTO jobs (id, key, message_id, message_version, user_id, state, attempts, created_at, due_at, ready_at, unless_event)
			VALUES ('j1', 'k1', 'hello', 1, 'u1', 'scheduled', 0, ?1, ?1, ?1, 'purchase'), ('j2', 'k2', 'hello', 1, 'u1', 'held', 0, ?1, ?1, NULL, '')`,
			[]any{at.UnixNano()}},
		{`INSERT INTO attempts (delivery_id, message_id, user_id, time, data) VALUES ('j0', 'hello', 'u1', ?, ?)`,
			[]any{at.UnixNano(), attempt}},
		{`INSERT INTO campaigns (message_id, message_version, run, state, started_at, occurrence, after_user, next_at, lease_owner, lease_expires_at)
			VALUES ('hello', 2, 1, 'paused', ?1, '', 'u0', ?1, '', NULL)`, []any{at.UnixNano()}},
	} {
		if _, err := db.ExecContext(t.Context(), q.sql, q.args...); err != nil {
			t.Fatalf("setting up an old database: %v", err)
		}
	}
	s := sqlitestore.New(db)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	ctx := t.Context()

	if got := tables(t, db); slices.ContainsFunc(got, func(name string) bool {
		return slices.Contains([]string{"users", "events", "messages", "jobs", "attempts", "campaigns", "schema_migrations"}, name)
	}) {
		t.Errorf("tables after Migrate = %v, want none of the old ones", got)
	}
	if us, err := s.Users(ctx, webhook.UserQuery{IDs: []string{"u1"}}); err != nil || len(us) != 1 || !cmp.Equal(us[0], user) {
		t.Errorf("Users(u1) = %+v, %v; want %+v", us, err, user)
	}
	if es, err := s.Events(ctx, webhook.EventQuery{UserID: "u1"}); err != nil || len(es) != 1 || es[0].ID != "e1" || es[0].Params["n"] != int64(1) {
		t.Errorf("Events(u1) = %+v, %v; want e1 once, as first saved", es, err)
	}
	if ms, err := s.Messages(ctx, webhook.MessageQuery{ID: "hello"}); err != nil || len(ms) != 1 || ms[0].Version != 2 {
		t.Errorf("Messages(hello) = %+v, %v; want version 2, the current one", ms, err)
	}
	if ms, err := s.Messages(ctx, webhook.MessageQuery{Event: "signup"}); err != nil || len(ms) != 0 {
		t.Errorf("Messages(Event: signup) = %+v, %v; want none: version 2 is not triggered", ms, err)
	}
	hello.Version = 0
	if err := s.PutMessage(ctx, hello); err != nil || hello.Version != 3 {
		t.Errorf("PutMessage after the upgrade: version %d, %v; want 3", hello.Version, err)
	}
	res, err := s.Claim(ctx, webhook.ClaimParams{Now: at, Owner: "w", Lease: time.Minute, Limit: 10})
	if err != nil || len(res.Jobs) != 1 || res.Jobs[0].ID != "j1" || res.Jobs[0].Unless != "purchase" {
		t.Errorf("Claim after the upgrade = %+v, %v; want j1, with Unless purchase (held j2 is not due)", res.Jobs, err)
	}
	// The held jobs are counted by triggers from a migration on: it counts those already held.
	if st, err := s.QueueStats(ctx, webhook.QueueStatsParams{Now: at}); err != nil || st.Held != 1 || st.Running != 1 {
		t.Errorf("QueueStats after the upgrade = %+v, %v; want j2 held and j1 running", st, err)
	}
	sent, err := s.Attempts(ctx, webhook.AttemptQuery{UserID: "u1", Outcomes: []webhook.Outcome{webhook.Succeeded}, Since: at, Brief: true})
	if err != nil || len(sent) != 1 || sent[0].JobID != "j0" || sent[0].Number != 1 {
		t.Errorf("Attempts for caps = %+v, %v; want j0's: an attempt logged before the upgrade counts", sent, err)
	}
	if all, err := s.Attempts(ctx, webhook.AttemptQuery{JobID: "j0"}); err != nil || len(all) != 1 || all[0].JobID != "j0" || all[0].StatusCode != 200 {
		t.Errorf("Attempts(j0) = %+v, %v; want j0's, whole", all, err)
	}
	cs, err := s.Campaigns(ctx, webhook.CampaignQuery{MessageIDs: []string{"hello"}})
	if err != nil || len(cs) != 1 || cs[0].State != webhook.CampaignPaused || cs[0].After != "u0" {
		t.Fatalf("Campaigns(hello) = %+v, %v; want the paused campaign", cs, err)
	}
	cs[0].State = webhook.CampaignRunning
	if err := s.PutCampaign(ctx, cs[0]); err != nil {
		t.Errorf("PutCampaign of the campaign read: %v", err)
	}
}

// TestMigrateUnprefixedFirstMigration upgrades a database that had only the old Store's
// first migration: its jobs have no Unless column, and it has no campaigns.
func TestMigrateUnprefixedFirstMigration(t *testing.T) {
	db := unprefixedDB(t, 1, true)
	exec(t, db, `INSERT INTO jobs (id, key, message_id, message_version, user_id, state, attempts, ready_at)
		VALUES ('j1', 'k1', 'm1', 1, 'u1', 'scheduled', 0, 0)`)
	s := sqlitestore.New(db)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	jobs, err := s.UpdateJobs(t.Context(), webhook.UpdateJobsParams{Filter: webhook.JobFilter{UserID: "u1"},
		From: []webhook.JobState{webhook.JobScheduled}, To: webhook.JobCancelled})
	if err != nil || len(jobs) != 1 || jobs[0].ID != "j1" || jobs[0].Unless != "" {
		t.Errorf("UpdateJobs after the upgrade = %+v, %v; want j1 cancelled, with no Unless", jobs, err)
	}
}

// TestMigrateBesideAppTables migrates a database where the app keeps its own users and jobs
// and a golang-migrate schema_migrations table: they are left as they were. So is the
// schema_migrations table that an old Store shared with golang-migrate, when it upgrades.
func TestMigrateBesideAppTables(t *testing.T) {
	app := []string{
		`CREATE TABLE schema_migrations (version uint64, dirty bool)`,
		`CREATE UNIQUE INDEX version_unique ON schema_migrations (version)`,
		`INSERT INTO schema_migrations VALUES (20260101120000, 0)`,
	}
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T) *sql.DB
		app   []string // the app's tables
	}{
		{"new", func(t *testing.T) *sql.DB {
			db := openDB(t)
			exec(t, db, app...)
			exec(t, db, `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)`,
				`INSERT INTO users VALUES (1, 'a@example.com')`,
				`CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT)`)
			return db
		}, []string{"schema_migrations", "users", "jobs"}},
		{"upgraded", func(t *testing.T) *sql.DB {
			db := unprefixedDB(t, 2, false)
			exec(t, db, app...)
			// The old Store created schema_migrations if there was none, else wrote into
			// the app's.
			exec(t, db, `INSERT INTO schema_migrations (version) VALUES (1), (2)`)
			return db
		}, []string{"schema_migrations"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.setup(t)
			before := dump(t, db, tt.app...)
			if err := sqlitestore.New(db).Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if diff := cmp.Diff(before, dump(t, db, tt.app...)); diff != "" {
				t.Errorf("the app's tables after Migrate (-before +after):\n%s", diff)
			}
		})
	}
}

// dump returns the schema and rows of each table in db, as text.
func dump(t *testing.T, db *sql.DB, names ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, name := range names {
		var schema string
		if err := db.QueryRowContext(t.Context(), `SELECT sql FROM sqlite_schema WHERE name = ?`, name).Scan(&schema); err != nil {
			t.Fatalf("table %s: %v", name, err)
		}
		out[name] = append(out[name], schema)
		rows, err := db.QueryContext(t.Context(), `SELECT * FROM `+name+` ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			row := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[name] = append(out[name], fmt.Sprint(row...))
		}
		rows.Close()
	}
	return out
}

// TestMigrationsFS applies the files of Migrations in order, as goose or golang-migrate
// would: they are named and marked for those tools, and make the schema that Migrate makes.
func TestMigrationsFS(t *testing.T) {
	names, err := fs.Glob(sqlitestore.Migrations, "*")
	if err != nil || len(names) == 0 {
		t.Fatalf("Migrations holds %v, %v; want the migrations", names, err)
	}
	byTool, byMigrate := openDB(t), openDB(t)
	golangMigrate := regexp.MustCompile(`^[0-9]+_.*\.up\.sql$`)
	for _, name := range names {
		src, err := fs.ReadFile(sqlitestore.Migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		if !golangMigrate.MatchString(name) || !strings.HasPrefix(string(src), "-- +goose Up\n") {
			t.Errorf("migration %s: want a name NNNN_name.up.sql, for golang-migrate, and a first line -- +goose Up, for goose", name)
		}
		exec(t, byTool, string(src))
	}
	if err := sqlitestore.New(byMigrate).Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	schema := func(db *sql.DB) []string {
		rows, err := db.QueryContext(t.Context(), `SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema
			WHERE tbl_name <> 'webhook_migrations' ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	if diff := cmp.Diff(schema(byMigrate), schema(byTool)); diff != "" {
		t.Errorf("schema made by applying Migrations (-Migrate's +the files'):\n%s", diff)
	}
}

// TestMigrateInspectorBackfills applies the migrations before 0005 to a database with jobs
// and attempts in it, then 0005: the jobs are counted by message and state, and the old
// attempts get the host and status of their JSON.
func TestMigrateInspectorBackfills(t *testing.T) {
	names, err := fs.Glob(sqlitestore.Migrations, "*")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(names, func(n string) bool { return strings.HasPrefix(n, "0005_") })
	if i < 0 {
		t.Fatalf("no migration 0005 in %v", names)
	}
	db := openDB(t)
	apply := func(names ...string) {
		for _, name := range names {
			src, err := fs.ReadFile(sqlitestore.Migrations, name)
			if err != nil {
				t.Fatal(err)
			}
			exec(t, db, string(src))
		}
	}
	apply(names[:i]...)
	exec(t, db, `INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, state, attempts, created_at)
		VALUES ('j1', 'k1', 'm', 1, 'u1', 'failed', 1, 1), ('j2', 'k2', 'm', 1, 'u2', 'held', 0, 2), ('j3', 'k3', 'm', 1, 'u3', 'failed', 1, 3)`,
		`INSERT INTO webhook_attempts (job_id, message_id, user_id, number, time, outcome, ignore_caps, data) VALUES
		('j1', 'm', 'u1', 1, 1, 'failed', 0, '{"url":"https://user:REDACTED@Hooks.Example.com:443/x?y=1","status_code":503}'),
		('j3', 'm', 'u3', 1, 2, 'failed', 0, '{"url":"http://example.net:8080?a=b","status_code":410}'),
		('j2', 'm', 'u2', 1, 3, 'skipped', 0, '{}')`)
	apply(names[i])
	s := sqlitestore.New(db)
	cs, err := s.CountJobs(t.Context(), webhook.CountJobsParams{})
	if want := []webhook.MessageCounts{{MessageID: "m", States: map[webhook.JobState]int64{webhook.JobFailed: 2, webhook.JobHeld: 1}}}; err != nil || !cmp.Equal(cs, want) {
		t.Errorf("CountJobs after 0005 = %+v, %v; want %+v", cs, err, want)
	}
	rows, err := db.QueryContext(t.Context(), `SELECT job_id || ' ' || host || ' ' || status FROM webhook_attempts ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if want := []string{"j1 hooks.example.com 503", "j3 example.net:8080 410", "j2  0"}; !cmp.Equal(got, want) {
		t.Errorf("attempts' host and status after 0005 = %q, want %q", got, want)
	}
}

// TestMigrationChainKeepsTheQueueCounts applies the migrations one after another to a
// database with jobs in every state, as a Store on each version would have them: up to 0003,
// then 0004 (whose triggers count the held jobs while it is the last, through a move into and
// out of held), then the rest with Migrate. QueueStats and CountJobs then count every job, and
// the Store's moves keep the counts equal to the jobs' states.
func TestMigrationChainKeepsTheQueueCounts(t *testing.T) {
	names, err := fs.Glob(sqlitestore.Migrations, "*")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(names, func(n string) bool { return strings.HasPrefix(n, "0004_") })
	if i < 0 {
		t.Fatalf("no migration 0004 in %v", names)
	}
	db := openDB(t)
	exec(t, db, `CREATE TABLE webhook_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`)
	apply := func(names ...string) {
		for _, name := range names {
			src, err := fs.ReadFile(sqlitestore.Migrations, name)
			if err != nil {
				t.Fatal(err)
			}
			exec(t, db, string(src), `INSERT INTO webhook_migrations (version) VALUES (`+strings.TrimLeft(name[:4], "0")+`)`)
		}
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ns := func(d time.Duration) string { return fmt.Sprint(base.Add(d).UnixNano()) }
	apply(names[:i]...)
	exec(t, db, `INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, state, attempts, created_at, due_at, lease_owner, lease_expires_at, ready_at) VALUES
		('s1', 'k1', 'm', 1, 'u1', 'scheduled', 0, `+ns(0)+`, `+ns(time.Minute)+`, NULL, NULL, `+ns(time.Minute)+`),
		('s2', 'k2', 'n', 1, 'u2', 'scheduled', 1, `+ns(0)+`, `+ns(2*time.Minute)+`, NULL, NULL, `+ns(2*time.Minute)+`),
		('r1', 'k3', 'm', 1, 'u3', 'running', 0, `+ns(0)+`, `+ns(0)+`, 'old', `+ns(3*time.Minute)+`, `+ns(3*time.Minute)+`),
		('h1', 'k4', 'm', 1, 'u4', 'held', 0, `+ns(0)+`, `+ns(time.Minute)+`, NULL, NULL, NULL),
		('h2', 'k5', 'n', 1, 'u5', 'held', 0, `+ns(0)+`, `+ns(time.Minute)+`, NULL, NULL, NULL),
		('e1', 'k6', 'm', 1, 'u6', 'succeeded', 1, `+ns(0)+`, `+ns(0)+`, NULL, NULL, NULL),
		('e2', 'k7', 'm', 1, 'u7', 'failed', 3, `+ns(0)+`, `+ns(0)+`, NULL, NULL, NULL),
		('e3', 'k8', 'n', 1, 'u8', 'cancelled', 0, `+ns(0)+`, `+ns(0)+`, NULL, NULL, NULL),
		('e4', 'k9', 'n', 1, 'u9', 'skipped', 1, `+ns(0)+`, `+ns(0)+`, NULL, NULL, NULL)`)
	apply(names[i])
	// At 0004: h2 is released, and a new held job enqueued.
	exec(t, db, `UPDATE webhook_jobs SET state = 'scheduled', ready_at = `+ns(90*time.Second)+` WHERE id = 'h2'`,
		`INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, state, attempts, created_at, due_at)
		VALUES ('h3', 'k10', 'n', 1, 'u10', 'held', 0, `+ns(0)+`, `+ns(time.Minute)+`)`)
	var held int
	if err := db.QueryRowContext(t.Context(), `SELECT n FROM webhook_held_jobs`).Scan(&held); err != nil || held != 2 {
		t.Errorf("held jobs counted at 0004 = %d, %v; want 2", held, err)
	}
	s := sqlitestore.New(db)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	st, err := s.QueueStats(ctx, webhook.QueueStatsParams{Now: base.Add(time.Hour)})
	if want := (webhook.QueueStats{Scheduled: 3, Running: 1, Held: 2, OldestDue: base.Add(time.Minute)}); err != nil || !cmp.Equal(st, want) {
		t.Errorf("QueueStats after the migrations = %+v, %v; want %+v", st, err, want)
	}
	checkCounts := func(when string, want map[string]map[webhook.JobState]int64) {
		t.Helper()
		cs, err := s.CountJobs(ctx, webhook.CountJobsParams{})
		if err != nil {
			t.Fatalf("CountJobs %s: %v", when, err)
		}
		got := map[string]map[webhook.JobState]int64{}
		for _, c := range cs {
			got[c.MessageID] = map[webhook.JobState]int64{}
			for st, n := range c.States {
				if n != 0 {
					got[c.MessageID][st] = n
				}
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CountJobs %s (-want +got):\n%s", when, diff)
		}
	}
	checkCounts("after the migrations", map[string]map[webhook.JobState]int64{
		"m": {webhook.JobScheduled: 1, webhook.JobRunning: 1, webhook.JobHeld: 1, webhook.JobSucceeded: 1, webhook.JobFailed: 1},
		"n": {webhook.JobScheduled: 2, webhook.JobHeld: 1, webhook.JobCancelled: 1, webhook.JobSkipped: 1},
	})
	// The Store moves the jobs on: it claims the scheduled ones and the one whose lease
	// expired, finishes two, and cancels the held job of m.
	res, err := s.Claim(ctx, webhook.ClaimParams{Now: base.Add(time.Hour), Owner: "new", Lease: time.Minute, Limit: 10})
	if err != nil || len(res.Jobs) != 4 {
		t.Fatalf("Claim = %d jobs, %v; want s1, s2, h2 and r1", len(res.Jobs), err)
	}
	var fin []webhook.Finished
	for _, j := range res.Jobs {
		switch j.ID {
		case "s1":
			j.State = webhook.JobSucceeded
		case "r1":
			j.State, j.DueAt = webhook.JobScheduled, base.Add(2*time.Hour)
		default:
			continue
		}
		fin = append(fin, webhook.Finished{Job: j})
	}
	if errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: fin}); err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("Finish = %v, %v", errs, err)
	}
	if _, err := s.UpdateJobs(ctx, webhook.UpdateJobsParams{Filter: webhook.JobFilter{MessageID: "m"}, From: []webhook.JobState{webhook.JobHeld},
		To: webhook.JobCancelled, Now: base.Add(time.Hour), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	checkCounts("after claims and finishes", map[string]map[webhook.JobState]int64{
		"m": {webhook.JobScheduled: 1, webhook.JobSucceeded: 2, webhook.JobFailed: 1, webhook.JobCancelled: 1},
		"n": {webhook.JobRunning: 2, webhook.JobHeld: 1, webhook.JobCancelled: 1, webhook.JobSkipped: 1},
	})
	st, err = s.QueueStats(ctx, webhook.QueueStatsParams{Now: base.Add(time.Hour)})
	if want := (webhook.QueueStats{Scheduled: 1, Running: 2, Held: 1}); err != nil || !cmp.Equal(st, want) {
		t.Errorf("QueueStats after the moves = %+v, %v; want %+v", st, err, want)
	}
}
