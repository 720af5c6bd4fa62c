package sqlitestore

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// openMigrated opens a new database file in a temporary directory, closed when tb ends, and
// migrates it. It returns the Store and its database, for tests that look at the tables.
func openMigrated(tb testing.TB) (*Store, *sql.DB) {
	tb.Helper()
	db, err := Open(tb.Context(), "sqlite", filepath.Join(tb.TempDir(), "hooks.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s := New(db)
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return s, db
}
