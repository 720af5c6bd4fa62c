package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/jackc/pgx/v5/pgconn"
)

// The tests below run the batches that merge concurrent calls with chosen contents: each
// call in a batch must get its own result, as if it had run alone.

// claimAll enqueues n jobs due at epoch and claims them all as owner "a".
func claimAll(t *testing.T, s *pgstore.Store, n int) []*webhook.Job {
	t.Helper()
	jobs := make([]*webhook.Job, n)
	for i := range jobs {
		jobs[i] = newJob(i, epoch)
	}
	enqueue(t, s, jobs...)
	claimed := claim(t, s, epoch, "a", n).Jobs
	if len(claimed) != n {
		t.Fatalf("Claim = %v; want all %d jobs", claimed, n)
	}
	return claimed
}

// finishAs ends each job's first attempt with outcome, in state.
func finishAs(jobs []*webhook.Job, state webhook.JobState, outcome webhook.Outcome) []webhook.Finished {
	fs := make([]webhook.Finished, len(jobs))
	for i, j := range jobs {
		j.State, j.Attempts = state, 1
		fs[i] = webhook.Finished{Job: j, Attempt: &webhook.Attempt{JobID: j.ID, MessageID: "m", UserID: "u", Number: 1, Time: epoch, Outcome: outcome}}
	}
	return fs
}

func TestFinishBatchGivesEachJobItsOwnResult(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	claimed := claimAll(t, s, 2)
	done, stolen := claimed[0], *claimed[1]
	done.State, done.Attempts = webhook.JobSucceeded, 1
	stolen.LeaseOwner, stolen.State = "b", webhook.JobSucceeded
	missing := newJob(2, epoch)
	missing.LeaseOwner = "a"
	jobs := []*webhook.Job{done, &stolen, missing}
	fs := make([]webhook.Finished, len(jobs))
	for i, j := range jobs {
		fs[i] = webhook.Finished{Job: j, Attempt: &webhook.Attempt{JobID: j.ID, MessageID: "m", UserID: "u", Number: 1,
			Time: epoch.Add(time.Duration(i) * time.Second), Outcome: webhook.Succeeded}}
	}
	// Two calls merged: the first with one item, the second with two.
	errs := s.FinishBatch(ctx, []webhook.FinishParams{{Jobs: fs[:1]}, {Jobs: fs[1:]}})
	got := slices.Concat(errs...)
	for i, want := range []error{nil, webhook.ErrLeaseLost, webhook.ErrNotFound} {
		if !errors.Is(got[i], want) || (want == nil) != (got[i] == nil) {
			t.Errorf("finish of %s in a batch = %v, want %v", jobs[i].ID, got[i], want)
		}
	}
	if j := job(t, s, done.ID); j.State != webhook.JobSucceeded || j.LeaseOwner != "" {
		t.Errorf("Job(%s) after its finish = %+v; want it succeeded and released", done.ID, j)
	}
	if j := job(t, s, stolen.ID); j.State != webhook.JobRunning || j.LeaseOwner != "a" {
		t.Errorf("Job(%s) after a finish by another owner = %+v; want it still running for a", stolen.ID, j)
	}
	as, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range as {
		ids = append(ids, a.JobID)
	}
	if diff := cmp.Diff([]string{missing.ID, stolen.ID, done.ID}, ids); diff != "" {
		t.Errorf("every attempt of a batch must be recorded, saved or not (-want +got):\n%s", diff)
	}
}

func TestFinishOfOneJobTwiceSavesItOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	j := claimAll(t, s, 1)[0]
	j.State = webhook.JobSucceeded
	f := webhook.Finished{Job: j, Attempt: &webhook.Attempt{JobID: j.ID, Time: epoch, Outcome: webhook.Succeeded}}
	errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: []webhook.Finished{f, f}})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], webhook.ErrLeaseLost) {
		t.Errorf("two finishes of one job in a call = %v, %v; want nil, then ErrLeaseLost", errs, err)
	}
	if as := attemptsOf(t, s, j.ID); len(as) != 2 {
		t.Errorf("attempts of %s = %d, want both recorded", j.ID, len(as))
	}
}

func TestEnqueueBatchFailsOnlyTheBadCall(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	bad := newJob(1, epoch)
	bad.UserID = "nul\x00" // PostgreSQL text cannot hold it
	dup := newJob(3, epoch)
	dup.Key = newJob(0, epoch).Key
	res, errs := s.EnqueueBatch(ctx, []webhook.EnqueueParams{
		{Jobs: []*webhook.Job{newJob(0, epoch)}}, {Jobs: []*webhook.Job{bad}}, {Jobs: []*webhook.Job{newJob(2, epoch), dup}},
	})
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Errorf("EnqueueBatch with a bad middle call = %v; want nil, an error, nil", errs)
	}
	if !slices.Equal(res[2].JobIDs, []string{"job_0002", "job_0000"}) {
		t.Errorf("IDs of the last call's jobs = %v; want job_0002, and job_0000 for the one with its key", res[2].JobIDs)
	}
	for i, want := range []bool{true, false, true} {
		id := newJob(i, epoch).ID
		js, err := s.Jobs(ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{IDs: []string{id}}})
		if err != nil || (len(js) == 1) != want {
			t.Errorf("Jobs(%s) after the batch = %v, %v; want it enqueued: %v", id, js, err, want)
		}
	}
}

func TestEnqueueBatchSharesOneStatement(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, b := newJob(1, epoch), newJob(2, epoch)
	b.Key = a.Key
	res, errs := s.EnqueueBatch(ctx, []webhook.EnqueueParams{
		{Jobs: []*webhook.Job{a}}, {}, {Events: []webhook.Event{{ID: "e", UserID: "u", Name: "n", Time: epoch}}, Jobs: []*webhook.Job{b}},
	})
	if slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		t.Fatalf("EnqueueBatch = %v", errs)
	}
	if len(res[0].JobIDs) != 1 || len(res[1].JobIDs) != 0 || !slices.Equal(res[2].JobIDs, []string{a.ID}) {
		t.Errorf("EnqueueBatch results = %v; want a's ID for a, none, a's ID for b (a's key)", res)
	}
}

func TestFinishBatchFailsOnlyTheBadItem(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	jobs := claimAll(t, s, 3)
	fs := finishAs(jobs, webhook.JobFailed, webhook.Failed)
	fs[1].Attempt.Err = "nul\x00" // PostgreSQL refuses it in text
	errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: fs})
	if err != nil || errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("Finish with a bad middle attempt = %v, %v; want nil, an error, nil", errs, err)
	}
	for i, j := range jobs {
		want := 1
		if i == 1 {
			want = 0 // refused
		}
		if as := attemptsOf(t, s, j.ID); len(as) != want {
			t.Errorf("attempts of %s = %d; want %d, each recorded once", j.ID, len(as), want)
		}
	}
}

// A batch falls back to running each item alone only when it surely changed nothing: had
// its statement been applied before the error (a connection lost after the commit), the
// items run again would log their attempts twice.
func TestFinishBatchRerunsOnlyWhatChangedNothing(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("finish: %w", &pgconn.PgError{Code: "22P05"}), true},
		{fmt.Errorf("finish: %w", pgstore.Unsent(errors.New("json: unsupported value"))), true},
		{fmt.Errorf("finish: %w", io.ErrUnexpectedEOF), false},
		{context.DeadlineExceeded, false},
	} {
		if got := pgstore.ChangedNothing(tt.err); got != tt.want {
			t.Errorf("ChangedNothing(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestFinishBatchDoesNotRerunWhatMayHaveBeenApplied fails a batch of finishes after the
// server ran it: running each again would log its attempt twice.
func TestFinishBatchDoesNotRerunWhatMayHaveBeenApplied(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	jobs := claimAll(t, s, 2)
	fs := finishAs(jobs, webhook.JobSucceeded, webhook.Succeeded)
	errs, err := pgstore.LosingResults(s, io.ErrUnexpectedEOF).Finish(ctx, webhook.FinishParams{Jobs: fs})
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("finish of %s in a batch whose connection was lost = %v, want the lost connection's error", jobs[i].ID, err)
		}
	}
	for _, j := range jobs {
		if as := attemptsOf(t, s, j.ID); len(as) != 1 {
			t.Errorf("attempts of %s = %d; want 1, logged once", j.ID, len(as))
		}
	}
}

func TestLookupBatchesFindEachThingAsked(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, id := range []string{"u1", "u2"} {
		if err := s.PutUsers(ctx, webhook.PutUsersParams{Users: []webhook.UserUpdate{{User: webhook.User{ID: id}}}, Now: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	users, errs := s.UserBatch(ctx, [][]string{{"u2", "nobody", "u1", "u2"}, {"nobody"}, {"u1"}})
	var ids [][]string
	for _, us := range users {
		var call []string
		for _, u := range us {
			call = append(call, u.ID)
		}
		ids = append(ids, call)
	}
	if slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		t.Fatal(errs)
	}
	if diff := cmp.Diff([][]string{{"u1", "u2"}, nil, {"u1"}}, ids); diff != "" {
		t.Errorf("UserBatch(u2 nobody u1 u2, nobody, u1) (-want +got):\n%s", diff)
	}
	for _, url := range []string{"https://example.com/v1", "https://example.com/v2"} {
		if err := s.PutMessage(ctx, &webhook.Message{ID: "m", URL: url}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, errs := s.MessageBatch(ctx, []string{"m", "m", "m", "other"}, []int{0, 1, 3, 0})
	if slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		t.Fatal(errs)
	}
	if msgs[0] == nil || msgs[0].Version != 2 || msgs[0].URL != "https://example.com/v2" ||
		msgs[1] == nil || msgs[1].Version != 1 || msgs[1].URL != "https://example.com/v1" || msgs[2] != nil || msgs[3] != nil {
		t.Errorf("MessageBatch(m@0, m@1, m@3, other@0) = %+v; want version 2 (the current one), version 1, none, none", msgs)
	}
}

// A header with a NUL in it, which jsonb refuses, is logged: the attempt log keeps headers
// as the JSON bytes the Sender wrote, so a hostile receiver cannot make an attempt fail to be
// recorded, and so be sent again. (The JSON still replaces bytes that are not UTF-8.)
func TestAttemptHeaderWithNULIsLogged(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	jobs := claimAll(t, s, 1)
	fs := finishAs(jobs, webhook.JobSucceeded, webhook.Succeeded)
	fs[0].Attempt.ResponseHeader = map[string][]string{"X": {"nul\x00"}}
	if errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: fs}); err != nil || errs[0] != nil {
		t.Fatalf("Finish = %v, %v", errs, err)
	}
	as := attemptsOf(t, s, jobs[0].ID)
	if len(as) != 1 || as[0].ResponseHeader.Get("X") != "nul\x00" {
		t.Errorf("attempts of %s = %+v; want one with header X: %q", jobs[0].ID, as, "nul\x00")
	}
}
