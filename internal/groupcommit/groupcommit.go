// Package groupcommit merges concurrent calls of one kind into batches, so that one
// transaction and commit serve many calls instead of one each (a group commit).
package groupcommit

import (
	"context"
	"slices"
	"sync"
)

// Group merges concurrent calls into batches. A call appends itself to the calls waiting
// and then either receives its result from a batch that took it, or becomes the leader:
// the one call that holds the group's turn and runs every call waiting as one batch,
// sending each its result. While one batch runs, the calls that arrive wait and then run
// together as the next batch (or join the running one, if its run takes them); a lone call
// runs at once. A call whose context ends before a batch takes it leaves the group and is
// not run; once taken, it waits for its batch's result, since the batch may have run it
// already. A Group is safe for concurrent use.
type Group[T any] struct {
	run  func(calls []Call[T], more func() []Call[T]) []error
	turn chan struct{} // holds a value while a batch runs

	mu      sync.Mutex // guards pending
	pending []Call[T]  // calls waiting for a batch
}

// A Call is one call in a batch: its item and the context it was made with. The batch
// decides what the context governs; it may run the item after the context has ended.
type Call[T any] struct {
	Ctx  context.Context
	Item T

	done chan error // receives the call's result
}

// New returns a Group whose batches run with run. run gets the calls the batch took, and
// more, which takes the calls that have arrived since (none, if no more came); it returns
// the error of each call it got, from both, in the order it got them. The calls it takes
// with more are its to run: more is how a batch lets calls join it while it runs.
func New[T any](run func(calls []Call[T], more func() []Call[T]) []error) *Group[T] {
	return &Group[T]{run: run, turn: make(chan struct{}, 1)}
}

// Do runs item in a batch and returns its error. If ctx ends before a batch takes the item,
// Do returns ctx's error and the item is not run; once a batch has taken it, Do waits for
// the batch.
func (g *Group[T]) Do(ctx context.Context, item T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	g.mu.Lock()
	g.pending = append(g.pending, Call[T]{Ctx: ctx, Item: item, done: done})
	g.mu.Unlock()
	select {
	case err := <-done: // another call's batch ran this one
		return err
	case g.turn <- struct{}{}:
		// This call leads the next batch: every call waiting, this one among them unless
		// the batch before took it.
		g.lead()
		<-g.turn
		return <-done
	case <-ctx.Done():
		g.mu.Lock()
		i := slices.IndexFunc(g.pending, func(c Call[T]) bool { return c.done == done })
		if i >= 0 {
			g.pending = slices.Delete(g.pending, i, i+1)
		}
		g.mu.Unlock()
		if i >= 0 {
			return ctx.Err()
		}
		return <-done // a batch took it before ctx ended
	}
}

// lead runs the calls waiting as one batch, if there are any, and sends each its result.
func (g *Group[T]) lead() {
	batch := g.take()
	if len(batch) == 0 {
		return
	}
	n := len(batch)
	more := func() []Call[T] {
		calls := g.take()
		batch = append(batch, calls...)
		return calls
	}
	// The full slice expression keeps run's appends out of batch's array.
	errs := g.run(batch[:n:n], more)
	for i, c := range batch {
		c.done <- errs[i]
	}
}

// take removes the calls waiting and returns them.
func (g *Group[T]) take() []Call[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	calls := g.pending
	g.pending = nil
	return calls
}
