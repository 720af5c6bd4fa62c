package pgstore

import (
	"context"
	"slices"
	"sync"
)

// group merges concurrent calls of one kind into batches (group commit): while one batch
// runs, the calls that arrive wait, and then run together as the next batch. One statement,
// transaction and commit (with its fsync and NOTIFY) then serves many calls instead of one
// each. A lone call runs at once. A group is safe for concurrent use.
type group[T any] struct {
	// run runs a batch of items in one go and returns the error of each, in order.
	run  func(ctx context.Context, items []T) []error
	turn chan struct{} // holds a value while a batch runs

	mu      sync.Mutex // guards pending
	pending []*groupCall[T]
}

// groupCall is a call waiting for its batch.
type groupCall[T any] struct {
	ctx  context.Context
	item T
	done chan error // receives the call's result
}

func newGroup[T any](run func(ctx context.Context, items []T) []error) *group[T] {
	return &group[T]{run: run, turn: make(chan struct{}, 1)}
}

// do runs item in a batch and returns its error. If ctx ends before the item's batch
// starts, do returns ctx's error and the item is not run; once the batch has started, do
// waits for it. A batch is cancelled once the contexts of all its calls have ended, not
// before, since each call's item depends on it.
func (g *group[T]) do(ctx context.Context, item T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &groupCall[T]{ctx: ctx, item: item, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	g.mu.Unlock()
	select {
	case err := <-c.done: // another call's batch ran c
		return err
	case g.turn <- struct{}{}:
		// This call runs the next batch: every call waiting, c among them unless the batch
		// before took c.
		g.mu.Lock()
		batch := g.pending
		g.pending = nil
		g.mu.Unlock()
		if len(batch) > 0 {
			items := make([]T, len(batch))
			ctxs := make([]context.Context, len(batch))
			for i, c := range batch {
				items[i], ctxs[i] = c.item, c.ctx
			}
			bctx, cancel := allDone(ctxs)
			errs := g.run(bctx, items)
			cancel()
			for i, c := range batch {
				c.done <- errs[i]
			}
		}
		<-g.turn
		return <-c.done
	case <-ctx.Done():
		g.mu.Lock()
		i := slices.Index(g.pending, c)
		if i >= 0 {
			g.pending = slices.Delete(g.pending, i, i+1)
		}
		g.mu.Unlock()
		if i >= 0 {
			return ctx.Err()
		}
		return <-c.done // a batch took c before ctx ended
	}
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
