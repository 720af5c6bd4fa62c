package webhooktest

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/hookline/webhook"
)

// ErrFlaky is the error a [FlakyStore] returns from the calls it fails.
var ErrFlaky = errors.New("webhooktest: injected store failure")

// FlakyStore is a [webhook.Store] that makes a fraction of the calls to another Store fail, to
// test that code using it loses nothing and does not spin when its database fails. Each call
// is, at random: passed through; failed before it reaches the Store (nothing happens, ErrFlaky
// is returned); failed after it (it happens, but ErrFlaky is returned, as when a commit's reply
// is lost); or timed out (context.DeadlineExceeded is returned, and it happened or not, at
// random, as when a database is too slow to answer). Set the rates with the fields before use;
// a zero rate never fails. Optional roles of the Store it wraps (such as [webhook.Notifier])
// are not forwarded.
//
// A FlakyStore is safe for concurrent use.
type FlakyStore struct {
	// Store is the Store the calls go to.
	Store webhook.Store
	// Before, After and Timeout are the fractions, from 0 to 1, of calls failed before they
	// reach the Store, failed after it, and timed out. Their sum must not exceed 1. Change
	// them with SetRates once the FlakyStore is in use.
	Before, After, Timeout float64
	// Seed makes the failures reproducible: the same seed fails the same calls of the same
	// sequence of calls.
	Seed uint64

	mu     sync.Mutex // guards rng and the rates once in use
	rng    *rand.Rand
	failed atomic.Int64
	calls  atomic.Int64
}

var _ webhook.Store = (*FlakyStore)(nil)

// SetRates sets Before, After and Timeout while the FlakyStore is in use.
func (s *FlakyStore) SetRates(before, after, timeout float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Before, s.After, s.Timeout = before, after, timeout
}

// Failed returns how many calls the FlakyStore has failed so far, of Calls.
func (s *FlakyStore) Failed() int64 { return s.failed.Load() }

// Calls returns how many calls the FlakyStore has received so far.
func (s *FlakyStore) Calls() int64 { return s.calls.Load() }

// fault is what a FlakyStore does with one call.
type fault int

const (
	pass fault = iota
	failBefore
	failAfter
	timeoutBefore
	timeoutAfter
)

// next draws what to do with the next call.
func (s *FlakyStore) next() fault {
	s.calls.Add(1)
	s.mu.Lock()
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	}
	x := s.rng.Float64()
	before, after, timeout := s.Before, s.After, s.Timeout
	s.mu.Unlock()
	f := pass
	switch {
	case x < before:
		f = failBefore
	case x < before+after:
		f = failAfter
	case x < before+after+timeout/2:
		f = timeoutBefore
	case x < before+after+timeout:
		f = timeoutAfter
	}
	if f != pass {
		s.failed.Add(1)
	}
	return f
}

// call runs one call of the wrapped Store as the next fault says.
func call[T any](s *FlakyStore, run func() (T, error)) (T, error) {
	var zero T
	switch s.next() {
	case failBefore:
		return zero, ErrFlaky
	case timeoutBefore:
		return zero, context.DeadlineExceeded
	case failAfter:
		if _, err := run(); err != nil {
			return zero, err
		}
		return zero, ErrFlaky
	case timeoutAfter:
		if _, err := run(); err != nil {
			return zero, err
		}
		return zero, context.DeadlineExceeded
	}
	return run()
}

// noResult adapts a call that returns only an error to call.
func noResult(run func() error) func() (struct{}, error) {
	return func() (struct{}, error) { return struct{}{}, run() }
}

// PutUsers implements [webhook.UserStore].
func (s *FlakyStore) PutUsers(ctx context.Context, p webhook.PutUsersParams) error {
	_, err := call(s, noResult(func() error { return s.Store.PutUsers(ctx, p) }))
	return err
}

// Users implements [webhook.UserStore].
func (s *FlakyStore) Users(ctx context.Context, q webhook.UserQuery) ([]webhook.User, error) {
	return call(s, func() ([]webhook.User, error) { return s.Store.Users(ctx, q) })
}

// Events implements [webhook.EventStore].
func (s *FlakyStore) Events(ctx context.Context, q webhook.EventQuery) ([]webhook.Event, error) {
	return call(s, func() ([]webhook.Event, error) { return s.Store.Events(ctx, q) })
}

// PutMessage implements [webhook.MessageStore].
func (s *FlakyStore) PutMessage(ctx context.Context, m *webhook.Message) error {
	_, err := call(s, noResult(func() error { return s.Store.PutMessage(ctx, m) }))
	return err
}

// Messages implements [webhook.MessageStore].
func (s *FlakyStore) Messages(ctx context.Context, q webhook.MessageQuery) ([]*webhook.Message, error) {
	return call(s, func() ([]*webhook.Message, error) { return s.Store.Messages(ctx, q) })
}

// DeleteMessage implements [webhook.MessageStore].
func (s *FlakyStore) DeleteMessage(ctx context.Context, id string) error {
	_, err := call(s, noResult(func() error { return s.Store.DeleteMessage(ctx, id) }))
	return err
}

// Enqueue implements [webhook.JobStore].
func (s *FlakyStore) Enqueue(ctx context.Context, p webhook.EnqueueParams) (webhook.EnqueueResult, error) {
	return call(s, func() (webhook.EnqueueResult, error) { return s.Store.Enqueue(ctx, p) })
}

// Claim implements [webhook.JobStore].
func (s *FlakyStore) Claim(ctx context.Context, p webhook.ClaimParams) (webhook.ClaimResult, error) {
	return call(s, func() (webhook.ClaimResult, error) { return s.Store.Claim(ctx, p) })
}

// Finish implements [webhook.JobStore].
func (s *FlakyStore) Finish(ctx context.Context, p webhook.FinishParams) ([]error, error) {
	var errs []error
	_, err := call(s, noResult(func() error {
		var err error
		errs, err = s.Store.Finish(ctx, p)
		return err
	}))
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// UpdateJobs implements [webhook.JobStore].
func (s *FlakyStore) UpdateJobs(ctx context.Context, p webhook.UpdateJobsParams) ([]*webhook.Job, error) {
	return call(s, func() ([]*webhook.Job, error) { return s.Store.UpdateJobs(ctx, p) })
}

// Jobs implements [webhook.JobStore].
func (s *FlakyStore) Jobs(ctx context.Context, q webhook.JobQuery) ([]*webhook.Job, error) {
	return call(s, func() ([]*webhook.Job, error) { return s.Store.Jobs(ctx, q) })
}

// Attempts implements [webhook.AttemptStore].
func (s *FlakyStore) Attempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	return call(s, func() ([]webhook.Attempt, error) { return s.Store.Attempts(ctx, q) })
}

// PutCampaign implements [webhook.CampaignStore].
func (s *FlakyStore) PutCampaign(ctx context.Context, c *webhook.Campaign) error {
	_, err := call(s, noResult(func() error { return s.Store.PutCampaign(ctx, c) }))
	return err
}

// Campaigns implements [webhook.CampaignStore].
func (s *FlakyStore) Campaigns(ctx context.Context, q webhook.CampaignQuery) ([]*webhook.Campaign, error) {
	return call(s, func() ([]*webhook.Campaign, error) { return s.Store.Campaigns(ctx, q) })
}

// LeaseCampaign implements [webhook.CampaignStore].
func (s *FlakyStore) LeaseCampaign(ctx context.Context, p webhook.LeaseCampaignParams) (webhook.LeaseCampaignResult, error) {
	return call(s, func() (webhook.LeaseCampaignResult, error) { return s.Store.LeaseCampaign(ctx, p) })
}
