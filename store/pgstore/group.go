package pgstore

import (
	"context"

	"github.com/hookline/webhook/internal/groupcommit"
)

// newGroup returns a group commit whose batches run with run (see [groupcommit.Group]):
// one statement, transaction and commit (with its fsync and NOTIFY) then serves many calls
// instead of one each. A batch runs under a context that is cancelled once the contexts of
// all its calls have ended, not before, since each call's item depends on it.
func newGroup[T any](run func(ctx context.Context, items []T) []error) *groupcommit.Group[T] {
	return groupcommit.New(func(calls []groupcommit.Call[T], _ func() []groupcommit.Call[T]) []error {
		items := make([]T, len(calls))
		ctxs := make([]context.Context, len(calls))
		for i, c := range calls {
			items[i], ctxs[i] = c.Item, c.Ctx
		}
		ctx, cancel := allDone(ctxs)
		defer cancel()
		return run(ctx, items)
	})
}

// do runs item in a batch of g, or, if g is nil (in a view), in a batch of its own with
// run, and returns its error.
func do[T any](ctx context.Context, g *groupcommit.Group[T], run func(context.Context, []T) []error, item T) error {
	if g == nil {
		return run(ctx, []T{item})[0]
	}
	return g.Do(ctx, item)
}

// allDone returns a context with the values of ctxs[0] that is cancelled once every one of
// ctxs has ended, and a function to call when it is no longer needed, which also ends the
// goroutine that watches ctxs.
func allDone(ctxs []context.Context) (context.Context, context.CancelFunc) {
	if len(ctxs) == 1 {
		return ctxs[0], func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctxs[0]))
	for _, c := range ctxs {
		if c.Done() == nil {
			return ctx, cancel // c never ends, so neither does the batch
		}
	}
	go func() {
		for _, c := range ctxs {
			select {
			case <-c.Done():
			case <-ctx.Done():
				return
			}
		}
		cancel()
	}()
	return ctx, cancel
}

// eachAlone runs each item by itself with run and returns their errors: what a batch falls
// back to when it fails as a whole, so that one item's bad data fails that item only.
func eachAlone[T any](ctx context.Context, items []T, run func(context.Context, T) error) []error {
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = run(ctx, it)
	}
	return errs
}
