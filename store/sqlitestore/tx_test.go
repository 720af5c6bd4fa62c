package sqlitestore_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

// TestTriggerTx checks the transactional trigger on SQLite: what InTx(...).Trigger records through a
// WithTx view is sent if and only if the app's transaction commits, and a second Trigger
// in the transaction sees the event of the first for an audience's Did criterion. (The
// audiences are checked once, when the jobs are enqueued: before the first attempt, the user
// has done both orders.)
func TestTriggerTx(t *testing.T) {
	h := newSenderOnSQLite(t, &webhook.Config{})
	for n, id := range []string{"first-order", "second-order"} {
		m := &webhook.Message{ID: id, URL: h.recv.URL + "/" + id + "/{{ user.id }}",
			Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "order"},
			Audience: webhook.Did("order", 0, webhook.OpEq, n+1), CheckAudienceOnce: true}
		h.do(t, "SaveMessage", h.sender.SaveMessage(h.ctx, m))
	}
	if _, err := h.db.ExecContext(h.ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, user_id TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// order places two orders of a user in one transaction of the app, each with its
	// trigger, and commits the transaction or rolls it back.
	order := func(user string, commit bool) {
		t.Helper()
		tx, err := h.db.BeginTx(h.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for _, id := range []string{"o1", "o2"} {
			if _, err := tx.ExecContext(h.ctx, `INSERT INTO orders VALUES (?, ?)`, user+"-"+id, user); err != nil {
				t.Fatal(err)
			}
			e := webhook.Event{ID: id, UserID: user, Name: "order"}
			if err := h.sender.InTx(h.store.WithTx(tx)).Trigger(h.ctx, e); err != nil {
				t.Fatalf("Tx.Trigger(%s of %s): %v", id, user, err)
			}
		}
		if commit {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	order("rolled-back", false)
	order("committed", true)
	// The Sender finds the jobs committed at once if it claims after the commit, else at
	// its next poll.
	h.idle(t)
	h.clock.Advance(time.Second)
	h.idle(t)
	as, err := h.sender.Attempts(h.ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		got = append(got, a.UserID+" "+a.MessageID+" "+string(a.Outcome))
	}
	slices.Sort(got)
	if want := []string{"committed first-order succeeded", "committed second-order succeeded"}; !slices.Equal(got, want) {
		t.Errorf("attempt log = %q, want %q", got, want)
	}

	for _, user := range []string{"rolled-back", "committed"} {
		events, err := h.store.Events(h.ctx, webhook.EventQuery{UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		var orders int
		if err := h.db.QueryRowContext(h.ctx, `SELECT count(*) FROM orders WHERE user_id = ?`, user).Scan(&orders); err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"rolled-back": 0, "committed": 2}[user]; len(events) != want || orders != want {
			t.Errorf("user %s has %d events and %d orders, want %d of each", user, len(events), orders, want)
		}
	}
}

// A write through a view that fails undoes what it wrote in the app's transaction, and the
// transaction goes on.
func TestWithTxWriteIsAtomic(t *testing.T) {
	s, db := openAt(t, filepath.Join(t.TempDir(), "hooks.db"))
	ctx := t.Context()
	job := func(id, key string) *webhook.Job {
		return &webhook.Job{ID: id, Key: key, MessageID: "m", UserID: "u", State: webhook.JobScheduled}
	}
	if _, err := s.Enqueue(ctx, webhook.EnqueueParams{Jobs: []*webhook.Job{job("j1", "k1")}}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	view := s.WithTx(tx)
	// The event and j2 are saved, then j1's ID is found taken by a job of another key.
	_, err = view.Enqueue(ctx, webhook.EnqueueParams{
		Events: []webhook.Event{{ID: "e1", UserID: "u", Name: "signup", Time: time.Unix(1, 0)}},
		Jobs:   []*webhook.Job{job("j2", "k2"), job("j1", "k3")},
	})
	if err == nil {
		t.Fatal("Enqueue of a job whose ID is taken = nil, want an error")
	}
	if err := view.PutUsers(ctx, webhook.PutUsersParams{Users: []webhook.UserUpdate{{User: webhook.User{ID: "u"}}}}); err != nil {
		t.Fatalf("PutUsers after the failed Enqueue, in the same transaction: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	events, err := s.Events(ctx, webhook.EventQuery{UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.Jobs(ctx, webhook.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	users, err := s.Users(ctx, webhook.UserQuery{IDs: []string{"u"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 0 || len(jobs) != 1 || len(users) != 1 {
		t.Errorf("after the transaction: %d events, %d jobs, %d users; want 0, 1 (j1) and 1: the failed Enqueue saved nothing", len(events), len(jobs), len(users))
	}
}
