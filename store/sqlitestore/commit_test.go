package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/internal/groupcommit"
)

// TestCommitUndoesOnlyTheFailedWrite runs a batch whose second write fails after it has
// written, as does a write that joins the batch while it runs: the other writes are saved,
// and the failed ones are not.
func TestCommitUndoesOnlyTheFailedWrite(t *testing.T) {
	s, db := openMigrated(t)
	errBad := errors.New("bad write")
	put := func(id string, fail bool) groupcommit.Call[writeFunc] {
		return groupcommit.Call[writeFunc]{Ctx: t.Context(), Item: func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_users (id, data) VALUES (?, '{}')`, id); err != nil || !fail {
				return err
			}
			return errBad
		}}
	}
	// d arrives while the batch runs: when c first runs, after the batch has begun.
	var late []groupcommit.Call[writeFunc] // writes that have arrived and not been taken
	c, d, dArrived := put("c", false), put("d", true), false
	runC := c.Item
	c.Item = func(ctx context.Context, tx *sql.Tx) error {
		if !dArrived {
			late, dArrived = append(late, d), true
		}
		return runC(ctx, tx)
	}
	batch := []groupcommit.Call[writeFunc]{put("a", false), put("b", true), c}
	more := func() []groupcommit.Call[writeFunc] {
		arrived := late
		late = nil
		return arrived
	}
	errs := s.commit(batch, more)
	if len(errs) != 4 {
		t.Fatalf("commit of 3 writes and 1 taken while it ran returned %d errors, want 4: %v", len(errs), errs)
	}
	for i, want := range []error{nil, errBad, nil, errBad} {
		if err := errs[i]; !errors.Is(err, want) {
			t.Errorf("write %d = %v, want %v", i, err, want)
		}
	}
	rows, err := db.QueryContext(t.Context(), `SELECT id FROM webhook_users ORDER BY id`)
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

// The Store's writes and a view's first use take the write lock before they read, whether or
// not the DSN makes transactions immediate, so that no other connection can write in
// between and make their snapshot stale.
func TestWriteLockFirst(t *testing.T) {
	_, db := openMigrated(t)
	var path string
	if err := db.QueryRowContext(t.Context(), `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	open := func(query string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?"+query)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	// deferred begins transactions as database/sql does by default, taking the write lock
	// at their first write; other is a writer that does not wait for the lock.
	deferred, other := open("_pragma=busy_timeout(10000)"), open("_txlock=immediate")
	locked := func() bool {
		tx, err := other.BeginTx(t.Context(), nil)
		if err == nil {
			tx.Rollback()
		}
		return err != nil
	}
	s := New(deferred)
	err := s.write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		if !locked() {
			t.Error("a write began without the write lock")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := deferred.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := s.WithTx(tx).Messages(t.Context(), webhook.MessageQuery{Event: "signup"}); err != nil {
		t.Fatal(err)
	}
	if !locked() {
		t.Error("a view read without the write lock")
	}
}
