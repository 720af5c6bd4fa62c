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
var migrations embed.FS

// Migrations returns the SQL migrations that [Store.Migrate] applies, for apps that run
// their schema changes with a tool of their own. Its files, at its root, are named
// NNN_name.up.sql, NNN being the version, and begin with a "-- +goose Up" line, so that
// golang-migrate (its iofs source), goose (with goose.SetBaseFS) and Atlas (a directory
// in the golang-migrate format, written out with os.CopyFS) take them as they are. Each is to
// be applied in one transaction, in version order, to the schema the Store's connections
// have first in their search_path.
//
// Give the tool a version table of its own, such as webhook_schema_migrations, so that it
// does not mix the Store's versions with the app's. A database that Migrate has migrated is
// at the latest version Migrate applied (recorded in the table webhook_migrations): tell the
// tool so before its first run, such as with golang-migrate's force command.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // "migrations" is a valid path, so fs.Sub cannot fail
	}
	return sub
}

// Migrate creates or updates the Store's tables in the first schema of the search_path,
// applying each of [Migrations] not applied yet, in one transaction. Several instances may
// call it at once: an advisory lock makes them take turns. It records the versions it
// applied in the table webhook_migrations. It returns an error if a migration fails, in
// which case nothing was changed.
func (s *Store) Migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.up.sql")
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
			sql, err := migrations.ReadFile(name)
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
