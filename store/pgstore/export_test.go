package pgstore

import (
	"context"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// The batches that merged calls run, for the tests to run with chosen contents.

func (s *Store) EnqueueBatch(ctx context.Context, calls [][]*webhook.Job) []error {
	return s.enqueueBatch(ctx, calls)
}

func (s *Store) FinishBatch(ctx context.Context, jobs []*webhook.Job, attempts []*webhook.Attempt) []error {
	fs := make([]finishing, len(jobs))
	for i := range jobs {
		fs[i] = finishing{jobs[i], attempts[i]}
	}
	return s.finishBatch(ctx, fs)
}

func (s *Store) UserBatch(ctx context.Context, ids []string) ([]webhook.User, []error) {
	rs := make([]*userRead, len(ids))
	for i, id := range ids {
		rs[i] = &userRead{id: id}
	}
	errs := s.readUsers(ctx, rs)
	users := make([]webhook.User, len(rs))
	for i, r := range rs {
		users[i] = r.user
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

// LosingResults returns a Store on s's database whose statements of the job path fail
// with err after the server has run them, as when the connection is lost after a commit.
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
