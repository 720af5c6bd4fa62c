package webhook

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// maxFinishBatch is the most outcomes the completer writes with one [JobStore.Finish].
const maxFinishBatch = 256

// finishLinger is how long the completer may wait, after an outcome arrives, for more to
// write with it (see completer.linger).
const finishLinger = 2 * time.Millisecond

// finishTimeout bounds each write of the completer. The Store is given its own time limit,
// not the Sender's context, so that a Sender that is stopping still records what it did.
const finishTimeout = 10 * time.Second

// completer writes the outcomes of attempts to the Store off the workers' path, as River's
// batch completer does: a worker hands an outcome over and goes on to its next job, and each
// write takes every outcome that arrived while the one before it ran (a group commit), so a
// durable Store commits once for many jobs and no worker waits for a commit.
//
// On the system clock, a write also waits up to finishLinger after its first outcome for
// more, until it has one per worker: at 16 workers on pgstore that doubles the outcomes a
// statement writes and cuts the server's CPU per job. A fake Clock's tests see every
// outcome written as soon as the write before it ends.
//
// A job stays held by the dispatcher until its outcome is written; the completer tells the
// dispatcher through written, and whether the job may come due again. Its zero value is not
// usable; see newCompleter.
type completer struct {
	store   JobStore
	log     *slog.Logger
	obs     *observer
	in      chan completion // never full: it holds at most one outcome per held job
	linger  time.Duration   // how long a write may wait for more outcomes; none if 0
	target  int             // how many outcomes a write stops waiting at
	written chan<- bool     // receives a value per outcome written: whether its job may come due again
	done    chan struct{}   // closed when run returns
}

// completion is one outcome to write, and what to call once it is written.
type completion struct {
	f     Finished
	after func()
}

// newCompleter returns a completer for at most held jobs at once, which tells written of
// each outcome written: true if its job is back in the queue, scheduled (a retry, a job put
// back or held until later), or if the write failed, leaving the job to come due when its
// lease expires. Each write waits up to linger after its first outcome for more, until it
// has target. Its goroutine runs until close is called.
func newCompleter(store JobStore, log *slog.Logger, obs *observer, held int, written chan<- bool, linger time.Duration, target int) *completer {
	c := &completer{store: store, log: log, obs: obs, in: make(chan completion, held), written: written, done: make(chan struct{}),
		linger: linger, target: min(target, maxFinishBatch)}
	go c.run()
	return c
}

// add hands an outcome over to be written; after, if not nil, is called once it is.
func (c *completer) add(f Finished, after func()) {
	c.in <- completion{f, after}
}

// close stops the completer once the outcomes handed over are written.
func (c *completer) close() {
	close(c.in)
	<-c.done
}

// run writes outcomes in batches until close.
func (c *completer) run() {
	defer close(c.done)
	batch := make([]completion, 0, maxFinishBatch)
	for first := range c.in {
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxFinishBatch {
			select {
			case next, ok := <-c.in:
				if !ok {
					break more
				}
				batch = append(batch, next)
			default:
				break more
			}
		}
		c.write(c.wait(batch))
		clear(batch) // keep no job or attempt beyond its write
	}
}

// wait adds to batch the outcomes that arrive within linger, until it has target, and
// returns it.
func (c *completer) wait(batch []completion) []completion {
	if c.linger <= 0 || len(batch) >= c.target {
		return batch
	}
	t := time.NewTimer(c.linger)
	defer t.Stop()
	for len(batch) < c.target {
		select {
		case next, ok := <-c.in:
			if !ok {
				return batch
			}
			batch = append(batch, next)
		case <-t.C:
			return batch
		}
	}
	return batch
}

// write writes one batch and logs what could not be saved.
func (c *completer) write(batch []completion) {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	items := make([]Finished, len(batch))
	for i, b := range batch {
		items[i] = b.f
	}
	errs, err := c.store.Finish(ctx, FinishParams{Jobs: items})
	for i, b := range batch {
		e := err
		if e == nil && i < len(errs) {
			e = errs[i]
		}
		switch {
		case e == nil:
		case errors.Is(e, ErrLeaseLost):
			c.log.LogAttrs(ctx, slog.LevelWarn, "webhook: job lease lost; another sender has it",
				slog.String("job_id", b.f.Job.ID))
		default:
			c.log.LogAttrs(ctx, slog.LevelError, "webhook: record attempt; the job will be tried again when its lease expires",
				slog.String("job_id", b.f.Job.ID), slog.String("error", e.Error()))
		}
		c.obs.finished(ctx, &batch[i].f, e, err)
		if b.after != nil {
			b.after()
		}
		c.written <- e != nil || b.f.Job.State == JobScheduled
	}
}
