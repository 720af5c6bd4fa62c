package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.up.sql
var migrationFiles embed.FS

// Migrations holds the migrations that [Store.Migrate] applies, for apps that apply
// migrations with a tool of their own: SQL files in its root named NNN_name.up.sql, one per
// migration, in the order of their numbers. The names are those golang-migrate reads, and
// each file is marked for goose (-- +goose Up); Atlas imports either format (atlas migrate
// import --dir-format golang-migrate). Apply them to the schema that is first in the Store's
// search_path, and give the tool a version table of its own, so that it does not mix the
// Store's versions with the app's. With goose, for example:
//
//	goose.SetBaseFS(pgstore.Migrations)
//	goose.SetTableName("webhook_goose_db_version")
//	err := goose.Up(db, ".")
//
// Use either the tool or Migrate, not both: Migrate records what it applied in
// webhook_migrations and the tool in its own table, and neither sees the other's. To move a
// database that Migrate made to a tool, tell the tool the latest version Migrate applied,
// such as with golang-migrate's force command.
var Migrations fs.FS = mustSub(migrationFiles, "migrations")

// mustSub returns fsys's subtree at dir, and panics if dir is not a valid path.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Migrate creates or updates the Store's tables in the first schema of the search_path,
// applying each migration of [Migrations] not applied yet, in one transaction. Several
// instances may call it at once: an advisory lock makes them take turns. It records the
// versions it applied in the table webhook_migrations. It returns an error if a migration
// fails, in which case nothing was changed.
func (s *Store) Migrate(ctx context.Context) error {
	files, err := fs.Glob(migrationFiles, "migrations/*.up.sql")
	if err != nil {
		return wrap("migrate", err)
	}
	slices.Sort(files)
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.webhook_migrations'))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS webhook_migrations (
			version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		for _, name := range files {
			base := strings.TrimPrefix(name, "migrations/")
			version, err := strconv.Atoi(base[:max(strings.IndexByte(base, '_'), 0)])
			if err != nil {
				return fmt.Errorf("migration %s: bad name", base)
			}
			tag, err := tx.Exec(ctx, `INSERT INTO webhook_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING`, version)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // applied before
			}
			sql, err := migrationFiles.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("migration %s: %w", base, err)
			}
		}
		return nil
	})
	return wrap("migrate", err)
}
