package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The tests below run the batches that merge concurrent calls with chosen contents: each
// call in a batch must get its own result, as if it had run alone.

// claimAll enqueues n jobs due at epoch and claims them all as owner "a".
func claimAll(ctx context.Context, t *testing.T, s *pgstore.Store, n int) []*webhook.Job {
	t.Helper()
	jobs := make([]*webhook.Job, n)
	for i := range jobs {
		jobs[i] = newJob(i, epoch)
	}
	if err := s.Enqueue(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Claim(ctx, epoch, "a", time.Minute, n)
	if err != nil || len(claimed) != n {
		t.Fatalf("Claim = %v, %v; want all %d jobs", claimed, err, n)
	}
	return claimed
}

// finishAs ends each job's first attempt with outcome, in state, and returns the attempts.
func finishAs(jobs []*webhook.Job, state webhook.JobState, outcome webhook.Outcome) []*webhook.Attempt {
	attempts := make([]*webhook.Attempt, len(jobs))
	for i, j := range jobs {
		j.State, j.Attempts = state, 1
		attempts[i] = &webhook.Attempt{DeliveryID: j.ID, MessageID: "m", UserID: "u", Number: 1, Time: epoch, Outcome: outcome}
	}
	return attempts
}

func TestFinishBatchGivesEachJobItsOwnResult(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	claimed := claimAll(ctx, t, s, 2)
	done, stolen := claimed[0], *claimed[1]
	done.State, done.Attempts = webhook.JobSucceeded, 1
	stolen.LeaseOwner, stolen.State = "b", webhook.JobSucceeded
	missing := newJob(2, epoch)
	missing.LeaseOwner = "a"
	jobs := []*webhook.Job{done, &stolen, missing}
	attempts := make([]*webhook.Attempt, len(jobs))
	for i, j := range jobs {
		attempts[i] = &webhook.Attempt{DeliveryID: j.ID, MessageID: "m", UserID: "u", Number: 1,
			Time: epoch.Add(time.Duration(i) * time.Second), Outcome: webhook.Succeeded}
	}
	errs := s.FinishBatch(ctx, jobs, attempts)
	for i, want := range []error{nil, webhook.ErrLeaseLost, webhook.ErrNotFound} {
		if !errors.Is(errs[i], want) || (want == nil) != (errs[i] == nil) {
			t.Errorf("finish of %s in a batch = %v, want %v", jobs[i].ID, errs[i], want)
		}
	}
	if j, err := s.Job(ctx, done.ID); err != nil || j.State != webhook.JobSucceeded || j.LeaseOwner != "" {
		t.Errorf("Job(%s) after its finish = %+v, %v; want it succeeded and released", done.ID, j, err)
	}
	if j, err := s.Job(ctx, stolen.ID); err != nil || j.State != webhook.JobRunning || j.LeaseOwner != "a" {
		t.Errorf("Job(%s) after a finish by another owner = %+v, %v; want it still running for a", stolen.ID, j, err)
	}
	got, err := s.Attempts(ctx, webhook.AttemptFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range got {
		ids = append(ids, a.DeliveryID)
	}
	if diff := cmp.Diff([]string{missing.ID, stolen.ID, done.ID}, ids); diff != "" {
		t.Errorf("every attempt of a batch must be recorded, saved or not (-want +got):\n%s", diff)
	}
}

func TestFinishBatchOfOneJobTwiceSavesItOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	j := claimAll(ctx, t, s, 1)[0]
	j.State = webhook.JobSucceeded
	a := &webhook.Attempt{DeliveryID: j.ID, Time: epoch, Outcome: webhook.Succeeded}
	errs := s.FinishBatch(ctx, []*webhook.Job{j, j}, []*webhook.Attempt{a, a})
	if errs[0] != nil || !errors.Is(errs[1], webhook.ErrLeaseLost) {
		t.Errorf("two finishes of one job in a batch = %v; want nil, then ErrLeaseLost", errs)
	}
}

func TestEnqueueBatchFailsOnlyTheBadCall(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	bad := newJob(1, epoch)
	bad.UserID = "nul\x00" // PostgreSQL text cannot hold it
	errs := s.EnqueueBatch(ctx, [][]*webhook.Job{{newJob(0, epoch)}, {bad}, {newJob(2, epoch)}})
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Errorf("EnqueueBatch with a bad middle call = %v; want nil, an error, nil", errs)
	}
	for i, want := range []bool{true, false, true} {
		id := newJob(i, epoch).ID
		if _, err := s.Job(ctx, id); (err == nil) != want {
			t.Errorf("Job(%s) after the batch = %v; want it enqueued: %v", id, err, want)
		}
	}
}

func TestFinishBatchFailsOnlyTheBadCall(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	jobs := claimAll(ctx, t, s, 3)
	attempts := finishAs(jobs, webhook.JobFailed, webhook.Failed)
	attempts[1].ResponseHeader = map[string][]string{"X": {"nul\x00"}} // PostgreSQL refuses it in JSONB
	errs := s.FinishBatch(ctx, jobs, attempts)
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("FinishBatch with a bad middle attempt = %v; want nil, an error, nil", errs)
	}
	for i, j := range jobs {
		as, err := s.Attempts(ctx, webhook.AttemptFilter{DeliveryID: j.ID})
		want := 1
		if i == 1 {
			want = 0 // refused
		}
		if err != nil || len(as) != want {
			t.Errorf("attempts of %s = %d, %v; want %d, each recorded once", j.ID, len(as), err, want)
		}
	}
}

// A batch falls back to running each call alone only when it surely changed nothing: had
// its statement been applied before the error (a connection lost after the commit), the
// calls run again would log their attempts twice.
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
	jobs := claimAll(ctx, t, s, 2)
	attempts := finishAs(jobs, webhook.JobSucceeded, webhook.Succeeded)
	errs := pgstore.LosingResults(s, io.ErrUnexpectedEOF).FinishBatch(ctx, jobs, attempts)
	for i, err := range errs {
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("finish of %s in a batch whose connection was lost = %v, want the lost connection's error", jobs[i].ID, err)
		}
	}
	for _, j := range jobs {
		if as, err := s.Attempts(ctx, webhook.AttemptFilter{DeliveryID: j.ID}); err != nil || len(as) != 1 {
			t.Errorf("attempts of %s = %d, %v; want 1, logged once", j.ID, len(as), err)
		}
	}
}

func TestLookupBatchesFindEachThingAsked(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.PutUser(ctx, webhook.User{ID: "u1", TimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	users, errs := s.UserBatch(ctx, []string{"u1", "nobody", "u1"})
	if errs[0] != nil || !errors.Is(errs[1], pgx.ErrNoRows) || errs[2] != nil || users[0].ID != "u1" || users[2].ID != "u1" {
		t.Errorf("UserBatch(u1, nobody, u1) = %v, %v; want u1, no rows, u1", users, errs)
	}
	for _, url := range []string{"https://example.com/v1", "https://example.com/v2"} {
		if err := s.PutMessage(ctx, &webhook.Message{ID: "m", URL: url}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, errs := s.MessageBatch(ctx, []string{"m", "m", "m", "other"}, []int{0, 1, 3, 0})
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], pgx.ErrNoRows) || !errors.Is(errs[3], pgx.ErrNoRows) {
		t.Fatalf("MessageBatch(m@0, m@1, m@3, other@0) errors = %v; want nil, nil, no rows, no rows", errs)
	}
	if msgs[0].Version != 2 || msgs[0].URL != "https://example.com/v2" || msgs[1].Version != 1 || msgs[1].URL != "https://example.com/v1" {
		t.Errorf("MessageBatch(m@0, m@1) = %+v, %+v; want version 2 (the current one), then version 1", msgs[0], msgs[1])
	}
}
