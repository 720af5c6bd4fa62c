package pgstore

import (
	"context"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// The batches that merged calls run, for the tests to run with chosen contents.

func (s *Store) EnqueueBatch(ctx context.Context, calls []webhook.EnqueueParams) ([]webhook.EnqueueResult, []error) {
	cs := make([]*enqueueCall, len(calls))
	for i, p := range calls {
		cs[i] = &enqueueCall{p: p}
	}
	errs := s.enqueueBatch(ctx, cs)
	res := make([]webhook.EnqueueResult, len(cs))
	for i, c := range cs {
		res[i] = c.res
	}
	return res, errs
}

func (s *Store) FinishBatch(ctx context.Context, calls []webhook.FinishParams) [][]error {
	cs := make([]*finishCall, len(calls))
	for i, p := range calls {
		cs[i] = &finishCall{items: p.Jobs}
	}
	s.finishBatch(ctx, cs)
	errs := make([][]error, len(cs))
	for i, c := range cs {
		errs[i] = c.errs
	}
	return errs
}

func (s *Store) UserBatch(ctx context.Context, calls [][]string) ([][]webhook.User, []error) {
	rs := make([]*userRead, len(calls))
	for i, ids := range calls {
		rs[i] = &userRead{ids: ids}
	}
	errs := s.readUsers(ctx, rs)
	users := make([][]webhook.User, len(rs))
	for i, r := range rs {
		users[i] = r.users
	}
	return users, errs
}

func (s *Store) MessageBatch(ctx context.Context, ids []string, versions []int) ([]*webhook.Message, []error) {
	rs := make([]*messageRead, len(ids))
	for i := range ids {
		rs[i] = &messageRead{id: ids[i], version: versions[i]}
	}
	errs := s.readMessages(ctx, rs)
	msgs := make([]*webhook.Message, len(rs))
	for i, r := range rs {
		msgs[i] = r.msg
	}
	return msgs, errs
}

var ChangedNothing = changedNothing

func Unsent(err error) error { return unsent{err} }

// LosingResults returns a Store on s's database whose batched statements fail with err
// after the server has run them, as when the connection is lost after a commit.
func LosingResults(s *Store, err error) *Store {
	return &Store{db: losingQuerier{s.db, err}, pool: s.pool}
}

type losingQuerier struct {
	querier
	err error
}

func (q losingQuerier) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return losingResults{q.querier.SendBatch(ctx, b), q.err}
}

type losingResults struct {
	pgx.BatchResults
	err error
}

func (r losingResults) Close() error {
	if err := r.BatchResults.Close(); err != nil {
		return err
	}
	return r.err
}
