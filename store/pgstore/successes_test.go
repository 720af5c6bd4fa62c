package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
)

// logOverlapping logs, in 40 Finish calls, 5 attempts each whose times are spread over
// 20 seconds, so that the rows of webhook_successes that the calls whose attempts all
// succeeded write hold times that overlap; one call in four has a failed attempt too, and
// goes to webhook_attempts. Users u0 to u3 take turns; of one row, one attempt is made 17 s
// after epoch, and one 18 s after it exactly. It returns the attempts' keys (see attemptKey)
// and times.
func logOverlapping(t *testing.T, s webhook.Store) map[string]time.Time {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	logged := map[string]time.Time{}
	for call := range 40 {
		var fs []webhook.Finished
		for i := range 5 {
			id := fmt.Sprintf("j%02d-%d", call, i)
			a := &webhook.Attempt{JobID: id, MessageID: "m", MessageVersion: 1, UserID: fmt.Sprintf("u%d", (call*5+i)%4),
				Number: 1, Time: epoch.Add(time.Duration(call)*500*time.Millisecond + time.Duration(r.IntN(20000))*time.Millisecond),
				Method: "POST", URL: "https://example.com/", StatusCode: 200, Host: "example.com", Outcome: webhook.Succeeded,
				Variant: []string{"", "a", "b"}[i%3]}
			if call == 30 && i < 2 { // a row that TestDeleteAttemptsSplitsSuccessRows splits at 18 s exactly
				a.Time = epoch.Add(time.Duration(17+i) * time.Second)
			}
			if call%4 == 3 && i == 0 {
				a.Outcome, a.StatusCode, a.Err = webhook.Failed, 500, "500 Internal Server Error"
			}
			logged[attemptKey(*a)] = a.Time
			fs = append(fs, webhook.Finished{Job: &webhook.Job{ID: id, LeaseOwner: "w", State: webhook.JobSucceeded}, Attempt: a})
		}
		if _, err := s.Finish(context.Background(), webhook.FinishParams{Jobs: fs}); err != nil {
			t.Fatal(err)
		}
	}
	return logged
}

// attemptKey names an attempt by its job and number.
func attemptKey(a webhook.Attempt) string { return fmt.Sprintf("%s#%d", a.JobID, a.Number) }

// keys returns the keys of as (see attemptKey), in order.
func keys(as []webhook.Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = attemptKey(a)
	}
	return out
}

// TestAttemptLogNewestFirstAcrossTables checks that the log reads the same attempts in the
// same order, newest first, whether it reads all of them in one statement or pages of a few
// at a time, which merge the rows of webhook_successes chunk by chunk with webhook_attempts,
// and that the order is by time, then Seq.
func TestAttemptLogNewestFirstAcrossTables(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	logged := logOverlapping(t, s)
	all, err := s.FindAttempts(ctx, webhook.FindAttemptsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(logged) {
		t.Fatalf("FindAttempts of the whole log = %d attempts, want the %d logged", len(all), len(logged))
	}
	if !slices.IsSortedFunc(all, func(a, b webhook.Attempt) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return int(b.Seq - a.Seq)
	}) {
		t.Errorf("FindAttempts of the whole log is not newest first by time, then Seq: %v", keys(all))
	}
	for _, a := range all {
		if !a.Time.Equal(logged[attemptKey(a)]) {
			t.Errorf("attempt %s read with time %v, logged with %v", attemptKey(a), a.Time, logged[attemptKey(a)])
		}
	}
	for _, q := range []webhook.AttemptLogQuery{
		{},
		{UserID: "u1"},
		{Variant: "a"},
		{StatusClass: 2},
		{StatusClass: 5},
		{Since: epoch.Add(12 * time.Second), Until: epoch.Add(30 * time.Second)},
	} {
		whole, err := s.FindAttempts(ctx, webhook.FindAttemptsParams{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{1, 7, 30} {
			var paged []webhook.Attempt
			p := webhook.FindAttemptsParams{Query: q, Limit: limit}
			for range len(all) + 1 {
				page, err := s.FindAttempts(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, page...)
				if len(page) < limit {
					break
				}
				p.AfterTime, p.AfterSeq = page[len(page)-1].Time, page[len(page)-1].Seq
			}
			if diff := cmp.Diff(keys(whole), keys(paged)); diff != "" {
				t.Errorf("FindAttempts(%+v) in pages of %d differs from all at once (-whole +paged):\n%s", q, limit, diff)
			}
		}
		var want []string
		for _, a := range all {
			if q.Match(&a) {
				want = append(want, attemptKey(a))
			}
		}
		if diff := cmp.Diff(want, keys(whole)); diff != "" {
			t.Errorf("FindAttempts(%+v) (-want +got):\n%s", q, diff)
		}
	}
	for _, q := range []webhook.AttemptQuery{
		{Limit: 9},
		{UserID: "u2", Limit: 4},
		{JobID: "j17-3"},
		{Outcomes: []webhook.Outcome{webhook.Failed}, Limit: 3},
		{Since: epoch.Add(15 * time.Second), Limit: 20},
		{UserID: "u3", Outcomes: []webhook.Outcome{webhook.Succeeded}, Since: epoch.Add(10 * time.Second), Brief: true, Limit: 5},
	} {
		var want []string
		for _, a := range all {
			if q.Match(&a) && (q.Limit == 0 || len(want) < q.Limit) {
				want = append(want, attemptKey(a))
			}
		}
		got, err := s.Attempts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, keys(got)); diff != "" {
			t.Errorf("Attempts(%+v) (-want +got):\n%s", q, diff)
		}
		for _, a := range got {
			if a.Seq != 0 {
				t.Errorf("Attempts(%+v) returned Seq %d for %s; want 0, as before the log had two tables", q, a.Seq, attemptKey(a))
				break
			}
		}
	}
}

// TestDeleteAttemptsSplitsSuccessRows checks that DeleteAttempts deletes the attempts before
// a time and keeps the others, also where one row of webhook_successes holds both.
func TestDeleteAttemptsSplitsSuccessRows(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	logged := logOverlapping(t, s)
	before := epoch.Add(18 * time.Second)
	var want []string
	for key, at := range logged {
		if !at.Before(before) {
			want = append(want, key)
		}
	}
	slices.Sort(want)
	n, err := s.DeleteAttempts(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(logged)-len(want) {
		t.Errorf("DeleteAttempts = %d, want the %d attempts before %v", n, len(logged)-len(want), before)
	}
	left, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := keys(left)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempts left after DeleteAttempts (-want +got):\n%s", diff)
	}
	if n, err := s.DeleteAttempts(ctx, before); err != nil || n != 0 {
		t.Errorf("DeleteAttempts again = %d, %v; want 0, nil", n, err)
	}
}

// TestDeleteAttemptsAtOnce checks that two DeleteAttempts calls that split the same row of
// webhook_successes at once leave what both delete deleted: the row holds attempts 2 min
// after t, 2 s and 1 s before it and 1 s after it, and a transaction holds it locked while a
// call to delete before t, then one to delete before t-1.5s, come to it; the first goes on
// first once it is released. The second must split the row as the first left it, not as it
// was when the second began, or it writes back the attempt 1 s before t.
func TestDeleteAttemptsAtOnce(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	pool := newPool(t, schema)
	s := pgstore.New(pool)
	at := epoch.Add(time.Hour)
	var fs []webhook.Finished
	for i, d := range []time.Duration{2 * time.Minute, -2 * time.Second, -time.Second, time.Second} {
		id := fmt.Sprintf("j%d", i)
		fs = append(fs, webhook.Finished{Job: &webhook.Job{ID: id, LeaseOwner: "w", State: webhook.JobSucceeded},
			Attempt: &webhook.Attempt{JobID: id, MessageID: "m", UserID: "u", Number: 1, StatusCode: 200, Time: at.Add(d), Outcome: webhook.Succeeded}})
	}
	if _, err := s.Finish(ctx, webhook.FinishParams{Jobs: fs}); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // a failure must not leave the rows locked
	if _, err := tx.Exec(ctx, `SELECT FROM webhook_successes FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	// waitBlocked returns once n statements of the schema's pool wait for a lock.
	monitor := newPool(t, schema)
	waitBlocked := func(n int) {
		t.Helper()
		for {
			var waiting int
			if err := monitor.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%webhook_successes%'`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting >= n {
				return
			}
		}
	}
	var deleted [2]int
	var errs [2]error
	var wg sync.WaitGroup
	for i, before := range []time.Time{at, at.Add(-1500 * time.Millisecond)} {
		wg.Go(func() { deleted[i], errs[i] = s.DeleteAttempts(ctx, before) })
		waitBlocked(i + 1)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	left, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(left), []string{"j0#1", "j3#1"}; !slices.Equal(got, want) || deleted[0]+deleted[1] != 2 {
		t.Errorf("after DeleteAttempts before t and before t-1.5s at once, attempts %v are left, %d and %d deleted; want %v left, 2 deleted in all",
			got, deleted[0], deleted[1], want)
	}
}

// TestCapsQueryReadsTheUsersRows checks that the brief query of a user's successes since a
// time, which caps make before a job's first attempt, reads the rows of webhook_successes
// that hold the user, by their GIN index, and not every row of the window by the index on
// time: 2,000 rows of ten successes each, one in twenty with one of the user's, 1,800 of
// them in the window. The connection plans as for a table too large to read whole
// (enable_seqscan off), which is where the choice between the two indexes matters.
func TestCapsQueryReadsTheUsersRows(t *testing.T) {
	ctx := context.Background()
	pool, err := openPool(ctx, dsn(t), 1, map[string]string{"search_path": newSchema(t), "enable_seqscan": "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := pgstore.New(pool)
	const rows = 2000
	for call := range rows {
		var fs []webhook.Finished
		for i := range 10 {
			user := fmt.Sprintf("x%d", call*10+i)
			if call%20 == 0 && i == 0 {
				user = "u1"
			}
			id := fmt.Sprintf("j%d-%d", call, i)
			fs = append(fs, webhook.Finished{Job: &webhook.Job{ID: id, LeaseOwner: "w", State: webhook.JobSucceeded},
				Attempt: &webhook.Attempt{JobID: id, MessageID: "m", UserID: user, Number: 1, StatusCode: 200,
					Time: epoch.Add(time.Duration(call) * 10 * time.Second), Outcome: webhook.Succeeded}})
		}
		if _, err := s.Finish(ctx, webhook.FinishParams{Jobs: fs}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE webhook_successes`); err != nil {
		t.Fatal(err)
	}
	read := func() int64 {
		return count(t, pool, `SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname = 'webhook_successes'`)
	}
	before := read()
	const queries = 5
	for range queries {
		got, err := s.Attempts(ctx, webhook.AttemptQuery{UserID: "u1", Outcomes: []webhook.Outcome{webhook.Succeeded},
			Since: epoch.Add(200 * 10 * time.Second), Brief: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 90 {
			t.Fatalf("the brief query of u1's successes in the window = %d attempts, want 90", len(got))
		}
	}
	if n := read() - before; n > queries*200 {
		t.Errorf("%d brief queries of one user's successes read %d rows of webhook_successes, want at most %d: they read the window's rows, not the user's",
			queries, n, queries*200)
	}
}
