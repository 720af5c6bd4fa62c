package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds the migrations that [Store.Migrate] applies, for apps that apply
// migrations with a tool of their own: SQL files in its root named NNNN_name.up.sql, one per
// migration, in the order of their numbers. The names are those golang-migrate reads, and
// each file is marked for goose (-- +goose Up); Atlas imports either format (atlas migrate
// import --dir-format golang-migrate). With goose, for example:
//
//	provider, err := goose.NewProvider(goose.DialectSQLite3, db, sqlitestore.Migrations)
//	...
//	_, err = provider.Up(ctx)
//
// Then call [Store.Check] where you would call Migrate. Use either the tool or Migrate, not
// both: Migrate records what it applied in webhook_migrations and the tool in its own table,
// and neither sees the other's. A database made before the tables were named webhook_* is
// upgraded only by Migrate.
var Migrations fs.FS = mustSub(migrationFiles, "migrations")

// mustSub returns fsys's subtree at dir, and panics if dir is not a valid path.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Migrate checks the database's settings as [Store.Check] does, then creates or upgrades the
// Store's tables, applying each migration of [Migrations] that the database has not had yet
// in a transaction of its own and recording it in webhook_migrations. It is safe to call
// every time the app starts, and from several processes at once. On a view (see
// [Store.WithTx]), it migrates in the view's transaction.
//
// A database that a Store made before its tables were named webhook_* (users, events,
// messages, jobs, attempts and campaigns, with a schema_migrations table of its own) is
// upgraded in the first migration's transaction: the rows move to the new tables, and the
// old tables are dropped. A schema_migrations table that is not the Store's, such as
// golang-migrate's, is left as it is.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.Check(ctx); err != nil {
		return err
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return wrap("migrate", err)
	}
	err = s.migrateTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS webhook_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
		)`)
		return err
	})
	if err != nil {
		return wrap("migrate", err)
	}
	for _, name := range names { // fs.Glob sorts: 0001_..., 0002_...
		base := path.Base(name)
		version, err := strconv.Atoi(base[:strings.IndexByte(base, '_')])
		if err != nil {
			return fmt.Errorf("sqlitestore: migration %s: bad name", base)
		}
		err = s.migrateTx(ctx, func(tx *sql.Tx) error {
			// A write first, so that the transaction takes the write lock before it reads
			// (see lockSQL): a concurrent Migrate waits, then finds the version recorded.
			res, err := tx.ExecContext(ctx, `INSERT INTO webhook_migrations (version) VALUES (?) ON CONFLICT DO NOTHING`, version)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return err // applied before
			}
			src, err := migrationFiles.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(src)); err != nil {
				return err
			}
			if version == 1 {
				return upgradeUnprefixed(ctx, tx)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sqlitestore: migration %s: %w", base, err)
		}
	}
	return nil
}

// migrateTx runs f in a transaction of its own, or in a savepoint of a view's transaction.
func (s *Store) migrateTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	if s.tx != nil {
		return savepoint(ctx, s.tx, f)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// unprefixed are the columns of the tables of a Store made before its tables were named
// webhook_*, by table, that upgradeUnprefixed moves. Those of campaigns came with its second
// migration, as did unless_event in jobs.
var unprefixed = map[string][]string{
	"users":    {"id", "data"},
	"events":   {"seq", "id", "user_id", "name", "time", "params"},
	"messages": {"id", "version", "trigger_event", "data"},
	"jobs": {"id", "key", "message_id", "message_version", "user_id", "event", "params", "state",
		"attempts", "created_at", "due_at", "lease_owner", "lease_expires_at", "request", "ready_at"},
	"attempts": {"seq", "delivery_id", "message_id", "user_id", "time", "data"},
}

// unprefixedCampaigns are the columns of the campaigns table of a Store made before its
// tables were named webhook_*, if it had its second migration.
var unprefixedCampaigns = []string{"message_id", "message_version", "run", "state", "started_at",
	"occurrence", "after_user", "next_at", "lease_owner", "lease_expires_at"}

// upgradeUnprefixed moves the rows of the tables of a Store made before its tables were named
// webhook_* into the tables that the first migration has just made in tx, and drops the old
// tables, with the old Store's schema_migrations table. It does nothing in a database without
// them: a database has them if each table of unprefixed has at least its columns, and none
// of them can be an app's, since the old Store could not create its tables beside an app's
// of the same names. Attempts' JSON gets job_id in place of delivery_id; events with an ID
// seen before for their user are dropped, as Enqueue would not have saved them.
func upgradeUnprefixed(ctx context.Context, tx *sql.Tx) error {
	cols := map[string]map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name IN ('users', 'events', 'messages', 'jobs', 'attempts', 'campaigns', 'schema_migrations')`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			return err
		}
		if cols[table] == nil {
			cols[table] = map[string]bool{}
		}
		cols[table][col] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	has := func(table string, want []string) bool {
		return !slices.ContainsFunc(want, func(c string) bool { return !cols[table][c] })
	}
	for table, want := range unprefixed {
		if !has(table, want) {
			return nil
		}
	}
	unless := "''"
	if cols["jobs"]["unless_event"] {
		unless = "unless_event"
	}
	moves := []string{
		`INSERT INTO webhook_users (id, data) SELECT id, data FROM users`,
		`INSERT INTO webhook_events (seq, id, user_id, name, time, params)
			SELECT seq, id, user_id, name, time, params FROM events WHERE true ON CONFLICT DO NOTHING`,
		`INSERT INTO webhook_message_versions (id, version, data) SELECT id, version, data FROM messages`,
		// The bare column trigger_event is that of the row with the max(version).
		`INSERT INTO webhook_messages (id, version, trigger_event) SELECT id, max(version), trigger_event FROM messages GROUP BY id`,
		`INSERT INTO webhook_jobs (id, key, message_id, message_version, user_id, event, params, state, attempts,
				created_at, due_at, lease_owner, lease_expires_at, request, unless_event, ready_at)
			SELECT id, key, message_id, message_version, user_id, event, params, state, attempts,
				created_at, due_at, lease_owner, lease_expires_at, request, ` + unless + `, ready_at FROM jobs`,
		`INSERT INTO webhook_attempts (seq, job_id, message_id, user_id, number, time, outcome, ignore_caps, data)
			SELECT seq, delivery_id, message_id, user_id, coalesce(doc->>'$.number', 0), time,
				coalesce(doc->>'$.outcome', ''), coalesce(doc->>'$.ignore_caps', 0),
				json_set(json_remove(doc, '$.delivery_id'), '$.job_id', delivery_id)
			FROM (SELECT *, CAST(data AS TEXT) AS doc FROM attempts)`, // the old Store kept JSON as BLOBs
	}
	drops := slices.Sorted(maps.Keys(unprefixed))
	if has("campaigns", unprefixedCampaigns) {
		c := strings.Join(unprefixedCampaigns, ", ")
		moves = append(moves, `INSERT INTO webhook_campaigns (`+c+`, rev) SELECT `+c+`, 1 FROM campaigns`)
		drops = append(drops, "campaigns")
	}
	// The old Store's schema_migrations has one column; golang-migrate's has two.
	if len(cols["schema_migrations"]) == 1 && cols["schema_migrations"]["version"] {
		drops = append(drops, "schema_migrations")
	}
	for _, table := range drops {
		moves = append(moves, `DROP TABLE `+table)
	}
	for _, q := range moves {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("upgrade tables named without webhook_: %w", err)
		}
	}
	return nil
}
