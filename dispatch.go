package webhook

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// dispatcher claims due jobs in batches and hands each to one of Workers long-lived worker
// goroutines, which run it through the executor; between claims it runs campaign fan-outs
// (see fanOuter), and otherwise waits.
//
// While jobs are held (claimed, and their outcome not yet written) it waits for one of them to
// be written, for a wake-up, or, on the system clock, for the next job to come due (see
// dueWhileBusy); when none is held it waits on the Clock until the next job or
// fan-out is due or PollInterval passes. So a Sender is idle exactly when its dispatcher waits
// on the Clock, which is what lets a test with a fake clock wait for it.
//
// When the lease is at least twice RequestTimeout, the dispatcher claims ahead: it holds up to
// twice Workers jobs, so that a Store is asked for about Workers at a time rather than one each
// time a worker frees up (each claim is a write, and a durable Store's cost is per write). A
// job may wait for a worker for half of what its lease leaves beyond RequestTimeout; one that
// waited longer is put back instead of sent. So a job starts with at least RequestTimeout plus
// half that margin of its lease left (without claiming ahead, it starts with all of it), for
// the Store reads, rendering and the send. On the system clock it holds up to twice Workers
// plus claimBatch's jobs plus outcomeRoom's, and asks for at least claimBatch's at a time
// while it holds Workers: a durable Store's claim costs a fixed part per statement, so that a
// claim of a few jobs costs it nearly as much as one of 30; and the completer may keep a
// job's outcome up to finishLinger before its write, which takes a durable Store a few
// milliseconds more, while the workers go on sending the jobs held for them.
type dispatcher struct {
	store   Store
	clock   Clock
	log     *slog.Logger
	exec    *executor
	catalog *catalog
	fanOut  *fanOuter
	id      string // the lease owner
	workers int
	lease   time.Duration
	timeout time.Duration
	poll    time.Duration

	wakeCh chan struct{} // holds a pending wake-up
	// recheck is set by wake: campaigns may have changed since the dispatcher last read when
	// the next fan-out is due.
	recheck atomic.Bool

	mu        sync.Mutex // guards idleTimer
	idleTimer Timer      // the timer the dispatcher waits on while idle, or nil
}

// claimed is a job the dispatcher claimed, with the time it claimed it.
type claimed struct {
	job *Job
	at  time.Time
}

// run dispatches until stop is closed, then puts back the jobs no worker started, waits for
// the outcomes of those in flight to be written, and closes done. Cancelling ctx cancels the
// sends in flight.
func (d *dispatcher) run(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	defer d.listen(ctx)()
	// While it holds at least Workers jobs, the dispatcher claims only when it has room for
	// batch more.
	capacity, batch, maxWait, linger := d.workers, d.workers, time.Duration(0), time.Duration(0)
	if d.lease >= 2*d.timeout {
		capacity, maxWait = 2*d.workers, (d.lease-d.timeout)/2
		if d.clock == (systemClock{}) {
			// Outcomes wait for the completer's write: room for them, so that the workers
			// do not wait for it either.
			batch, linger = claimBatch(d.workers), finishLinger
			capacity = 2*d.workers + batch + outcomeRoom(d.workers)
		}
	}
	written := make(chan bool, capacity)
	d.exec.complete = newCompleter(d.store, d.log, d.exec.obs, capacity, written, linger, d.workers)
	defer d.exec.obs.tel.observeQueue(d.store, d.clock, d.exec.hosts.OpenBreakers, func(err error) {
		d.log.LogAttrs(ctx, slog.LevelError, "webhook: read the queue for metrics", slog.String("error", err.Error()))
	})()
	defer d.exec.complete.close()
	todo := make(chan claimed, capacity) // never full: at most capacity jobs are held
	var workers sync.WaitGroup
	for range d.workers {
		// Long-lived workers keep the deep stacks that rendering grows, instead of growing a
		// new goroutine's stack for every job.
		workers.Go(func() {
			var at attempt // reused for each of the worker's attempts
			for c := range todo {
				if maxWait > 0 && d.clock.Now().Sub(c.at) > maxWait {
					d.exec.putBack(ctx, c.job)
				} else {
					d.exec.execute(ctx, c.job, &at)
				}
			}
		})
	}
	held := 0
	defer func() {
		// Jobs no worker has started go back to the queue as they were.
		for unstarted := true; unstarted; {
			select {
			case c := <-todo:
				d.exec.putBack(ctx, c.job)
			default:
				unstarted = false
			}
		}
		close(todo)
		workers.Wait()
		for ; held > 0; held-- {
			<-written
		}
	}()
	nextDue := time.Time{} // when the next job is due, as the last claim said; zero if none
	// drained is whether the last claim took fewer jobs than it asked for and nothing has
	// happened since that may have made a job due: no wake-up, no job back in the queue, and
	// nextDue not reached. A claim then would find nothing, so an outcome written does not
	// make the dispatcher claim again: at a low rate, that is a Store write saved per job.
	drained := false
	for {
		select {
		case <-stop:
			return
		default:
		}
		room := capacity - held
		canClaim := room > 0 && (held < d.workers || room >= batch)
		if canClaim && (!drained || !nextDue.IsZero() && !nextDue.After(d.clock.Now())) {
			now := d.clock.Now()
			res, err := d.store.Claim(ctx, ClaimParams{Now: now, Owner: d.id, Lease: d.lease, Limit: room})
			if err != nil {
				d.log.LogAttrs(ctx, slog.LevelError, "webhook: claim jobs", slog.String("error", err.Error()))
				res.NextDue = now.Add(d.poll)
			}
			for _, j := range res.Jobs {
				held++
				todo <- claimed{j, now}
			}
			if len(res.Jobs) == room {
				drained = false
				continue // there may be more due
			}
			nextDue, drained = res.NextDue, err == nil
		}
		if d.fanOut.step(ctx, d.recheck.Swap(false)) { // jobs and fan-out pages take turns
			drained = false // the page enqueued jobs
			continue
		}
		if held > 0 {
			var due <-chan time.Time
			if canClaim {
				due = d.dueWhileBusy(nextDue)
			}
			select {
			case requeued := <-written:
				held--
				drained = drained && !requeued
			case <-d.wakeCh:
				drained = false
			case <-due:
				drained = false
			case <-stop:
				return
			}
			continue
		}
		if !d.idle(ctx, stop, nextDue) {
			return
		}
		drained = false
	}
}

// claimBatch returns the fewest jobs that a dispatcher of workers workers that claims ahead
// on the system clock asks for while it holds at least workers: 32, but no fewer than
// workers and no more than twice workers. A claim statement of a durable Store costs a fixed
// part (pgstore's, about as much as 10 to 15 jobs) and a part per job, so that at 16
// workers, claims of 32 jobs rather than 16 save it half its claim statements.
func claimBatch(workers int) int {
	return min(2*workers, max(workers, 32))
}

// outcomeRoom returns how many more jobs a dispatcher of workers workers that claims ahead on
// the system clock holds, beyond those it sends, for the outcomes that wait to be written:
// four times workers, but no more than a write of the completer takes. At 16 workers on pgstore,
// outcomes wait 2 ms to be written together and then 2 to 5 ms for the write, about 50 at
// 7,000 a second; without this room, the dispatcher could not claim until they were written,
// and its workers waited for jobs: a burst on pgstore sent 12 to 20% fewer a second.
func outcomeRoom(workers int) int {
	return min(4*workers, maxFinishBatch)
}

// dueWhileBusy returns a channel that receives when the job due at next comes due, for the
// dispatcher to claim it while jobs it holds are in flight: a job held back by a rate limit
// must not wait for a slow host's attempt to end. It is nil, a channel that never receives,
// if next is zero or the Clock is not the system clock: a test's Clock sees the Sender idle
// only when it waits on it with nothing held, and its time moves only then.
func (d *dispatcher) dueWhileBusy(next time.Time) <-chan time.Time {
	if next.IsZero() || d.clock != (systemClock{}) {
		return nil
	}
	return time.After(min(time.Until(next), d.poll))
}

// idle waits on the Clock until the next job (due at next, if not zero) or fan-out is due,
// PollInterval passes, or a wake-up comes. It returns false if the Sender is stopping.
func (d *dispatcher) idle(ctx context.Context, stop chan struct{}, next time.Time) bool {
	now := d.clock.Now()
	wait := d.poll
	if !next.IsZero() {
		wait = min(wait, next.Sub(now))
	}
	wait = d.fanOut.wait(ctx, now, wait)
	d.mu.Lock()
	if len(d.wakeCh) > 0 {
		d.mu.Unlock()
		<-d.wakeCh
		return true
	}
	t := d.clock.NewTimer(wait)
	d.idleTimer = t
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		t.Stop()
		if d.idleTimer == t {
			d.idleTimer = nil
		}
		d.mu.Unlock()
	}()
	select {
	case <-t.C():
	case <-d.wakeCh:
	case <-stop:
		return false
	}
	return true
}

// wake makes the dispatcher look for due jobs and campaign fan-outs at once, after a change to
// campaigns, and makes the catalog read again. The wake-up is not lost if the dispatcher is
// busy: it looks again when it is next idle.
func (d *dispatcher) wake() {
	d.catalog.invalidate()
	d.wakeForStore()
}

// wakeForStore is wake after a notification from the Store: the dispatcher looks for due jobs
// and campaign fan-outs at once, and the catalog is kept. A Store notifies after every
// enqueue, most of them this Sender's own, so reading the catalog again on each would cost a
// trigger two more reads; the catalog says that changes made by other Senders are seen within
// PollInterval.
func (d *dispatcher) wakeForStore() {
	d.recheck.Store(true)
	d.wakeForJobs()
}

// wakeForJobs is wake after a change to jobs only, which leaves when the next fan-out is due
// as it was: the dispatcher looks for due jobs at once, and keeps what it last read of
// campaigns.
func (d *dispatcher) wakeForJobs() {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case d.wakeCh <- struct{}{}:
	default:
	}
	// Stopping the idle timer here, rather than letting the dispatcher do it, means that a
	// fake clock sees no waiter from the moment a job is enqueued until the Sender is idle
	// again.
	if d.idleTimer != nil {
		d.idleTimer.Stop()
		d.idleTimer = nil
	}
}

// listen wakes the dispatcher on the Store's notifications, if it is a Notifier, until the
// returned function is called, which waits until the Store has stopped sending them.
func (d *dispatcher) listen(ctx context.Context) (stop func()) {
	n, ok := d.store.(Notifier)
	if !ok {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := n.Notifications(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
			d.wakeForStore()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
