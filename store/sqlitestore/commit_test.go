package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	_ "modernc.org/sqlite"
)

// TestCommitUndoesOnlyTheFailedWrite runs a batch whose middle write fails after it has
// written: the writes around it are saved, and it is not.
func TestCommitUndoesOnlyTheFailedWrite(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "commit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := New(db)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	errBad := errors.New("bad write")
	put := func(id string, fail bool) *pendingWrite {
		return &pendingWrite{ctx: t.Context(), done: make(chan error, 1), f: func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, data) VALUES (?, '{}')`, id); err != nil || !fail {
				return err
			}
			return errBad
		}}
	}
	batch := []*pendingWrite{put("a", false), put("b", true), put("c", false), put("d", true)}
	s.pending = batch
	s.commit()
	for i, want := range []error{nil, errBad, nil, errBad} {
		if err := <-batch[i].done; !errors.Is(err, want) {
			t.Errorf("write %d = %v, want %v", i, err, want)
		}
	}
	rows, err := db.QueryContext(t.Context(), `SELECT id FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"a", "c"}) {
		t.Errorf("users saved = %q, want a and c: a failed write must undo only itself", ids)
	}
}
