// Package webhooktest helps test code that uses package webhook: a [FakeClock] that moves only
// when told, and a [Receiver] that records webhook requests and replies with scripted
// statuses. It is to webhook what net/http/httptest is to net/http.
package webhooktest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hookline/webhook"
)

// FakeClock is a [webhook.Clock] whose time moves only when [FakeClock.Advance] or
// [FakeClock.Set] is called, firing the timers that come due. With it a test runs hours of
// retries and schedules in milliseconds.
//
// A started Sender waits on its Clock exactly when it is idle: nothing in flight and nothing
// due. So after a Trigger, [FakeClock.BlockUntil] with 1 (one per Sender) returns once the
// jobs it enqueued have been attempted and logged, and after an Advance, once the jobs that
// came due have been. A job that a limit holds back (the host rate limit, a paused host, quiet
// hours) is due later, so it is not attempted by then: with the default Config.HostRate, only
// the first 10 jobs to one host go at once. [NewSender] makes a test Sender without a host
// limit.
//
// A FakeClock is safe for concurrent use.
type FakeClock struct {
	mu      sync.Mutex // guards the fields below
	now     time.Time
	timers  []*fakeTimer  // pending, in no particular order
	changed chan struct{} // closed and replaced whenever timers changes
}

var _ webhook.Clock = (*FakeClock)(nil)

// NewFakeClock returns a FakeClock whose time is t.
func NewFakeClock(t time.Time) *FakeClock {
	return &FakeClock{now: t, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock's time reaches Now()+d; at once if
// d <= 0.
func (c *FakeClock) NewTimer(d time.Duration) webhook.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	c.notify()
	return t
}

// Advance moves the clock's time forward by d and fires the timers that come due, earliest
// first.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(c.now.Add(d))
}

// Set moves the clock's time to t and fires the timers that come due, earliest first. Setting
// it back in time fires nothing.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(t)
}

func (c *FakeClock) set(t time.Time) {
	c.now = t
	var due []*fakeTimer
	c.timers = slices.DeleteFunc(c.timers, func(ft *fakeTimer) bool {
		if ft.at.After(t) {
			return false
		}
		due = append(due, ft)
		return true
	})
	slices.SortFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, ft := range due {
		ft.ch <- t
	}
	if len(due) > 0 {
		c.notify()
	}
}

// Waiters returns how many timers are pending: for a set of started Senders, how many of
// them are idle.
func (c *FakeClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// BlockUntil waits until at least n timers are pending on the clock (for Senders, until n of
// them are idle), or until ctx ends, when it returns ctx's error.
func (c *FakeClock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		pending, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if pending >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notify wakes BlockUntil callers. c.mu must be held.
func (c *FakeClock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type fakeTimer struct {
	clock *FakeClock
	at    time.Time
	ch    chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	c.notify()
	return true
}
