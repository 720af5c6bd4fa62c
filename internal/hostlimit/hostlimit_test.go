package hostlimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterStateIsBounded(t *testing.T) {
	l := newLimits(Config{Rate: 1, Burst: 1})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range maxTracked + 100 {
		// Two jobs per host: the second waits. Once the slots are full, a reservation
		// that finds none is cancelled and its host looks idle again, so this checks only
		// that every map stays bounded; TestLimiterCapHoldsWhenAllHostsAreBusy covers a cap
		// reached with no idle host.
		host := fmt.Sprintf("h%d.example.com", i)
		l.Admit(nil, fmt.Sprintf("a%d", i), host, "m", 600, now, now.Add(time.Minute))
		if wait, _ := l.Admit(nil, fmt.Sprintf("b%d", i), host, "m", 600, now, now.Add(time.Minute)); wait <= 0 {
			t.Fatalf("second delivery to %s was not held back", host)
		}
	}
	if len(l.hosts) > maxTracked || len(l.messages) > maxTracked || len(l.slots) > maxTracked {
		t.Errorf("tracking %d hosts, %d messages, %d slots; want at most %d each", len(l.hosts), len(l.messages), len(l.slots), maxTracked)
	}
	// Once the slots are in the past, new ones replace them.
	later := now.Add(time.Hour)
	for i := range 10 {
		host := fmt.Sprintf("new%d.example.com", i)
		l.Admit(nil, fmt.Sprintf("c%d", i), host, "other", 0, later, later.Add(time.Minute))
		l.Admit(nil, fmt.Sprintf("d%d", i), host, "other", 0, later, later.Add(time.Minute))
	}
	if _, ok := l.slots["d9"]; !ok || len(l.slots) > maxTracked {
		t.Errorf("after an hour, %d slots and none for d9; stale slots should make room", len(l.slots))
	}
}

// TestLimiterCapForgetsIdleHostsFirst checks that when the host limiters reach maxTracked, a
// new host makes the Sender forget the idle ones (a full bucket and no failures counted) and
// keep every busy one: a spent token, or a failure toward the breaker.
func TestLimiterCapForgetsIdleHostsFirst(t *testing.T) {
	l := newLimits(Config{Rate: 1, Burst: 1})
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	now := start.Add(time.Hour) // the buckets spent at start are full again
	idle := maxTracked / 2
	for i := range idle {
		l.Admit(nil, fmt.Sprintf("i%d", i), fmt.Sprintf("idle%d.example.com", i), "m", 0, start, start.Add(time.Minute))
	}
	l.Admit(nil, "f", "failing.example.com", "m", 0, start, start.Add(time.Minute))
	_, _ = l.Done("failing.example.com", start.Add(time.Minute), Failed, start)
	busy := maxTracked - idle - 1
	for i := range busy {
		l.Admit(nil, fmt.Sprintf("b%d", i), fmt.Sprintf("busy%d.example.com", i), "m", 0, now, now.Add(time.Minute))
	}
	if len(l.hosts) != maxTracked {
		t.Fatalf("tracking %d hosts before the new one, want %d", len(l.hosts), maxTracked)
	}

	if wait, _ := l.Admit(nil, "n", "new.example.com", "m", 0, now, now.Add(time.Minute)); wait != 0 {
		t.Errorf("first delivery to a new host waits %v, want 0", wait)
	}
	if got, want := len(l.hosts), busy+2; got != want {
		t.Errorf("tracking %d hosts after the new one, want %d: the busy ones, the failing one and the new one", got, want)
	}
	for _, host := range []string{"new.example.com", "failing.example.com", "busy0.example.com", fmt.Sprintf("busy%d.example.com", busy-1)} {
		if l.hosts[host] == nil {
			t.Errorf("forgot %s, want it kept", host)
		}
	}
	if l.hosts["failing.example.com"] != nil && l.hosts["failing.example.com"].failures != 1 {
		t.Errorf("failing.example.com has %d failures, want 1 kept", l.hosts["failing.example.com"].failures)
	}
	kept := 0
	for i := range idle {
		if l.hosts[fmt.Sprintf("idle%d.example.com", i)] != nil {
			kept++
		}
	}
	if kept != 0 {
		t.Errorf("kept %d of %d idle hosts, want 0", kept, idle)
	}
}

// TestLimiterCapHoldsWhenAllHostsAreBusy checks that when all maxTracked host limiters are
// busy, a new host makes the Sender forget some of them, down to nine tenths of the cap,
// rather than grow; the new host gets a fresh limiter and the kept hosts keep their state.
func TestLimiterCapHoldsWhenAllHostsAreBusy(t *testing.T) {
	l := newLimits(Config{Rate: 1, Burst: 1})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range maxTracked {
		l.Admit(nil, fmt.Sprintf("a%d", i), fmt.Sprintf("h%d.example.com", i), "m", 0, now, now.Add(time.Minute))
	}
	if wait, _ := l.Admit(nil, "n", "new.example.com", "m", 0, now, now.Add(time.Minute)); wait != 0 {
		t.Errorf("first delivery to a new host waits %v, want 0", wait)
	}
	if got, want := len(l.hosts), maxTracked*9/10; got != want {
		t.Errorf("tracking %d hosts after the new one, want %d", got, want)
	}
	if l.hosts["new.example.com"] == nil {
		t.Errorf("the new host is not tracked")
	}
	for host, h := range l.hosts {
		if h.idle(now) {
			t.Errorf("kept %s, but its limiter is idle: its state was lost", host)
		}
	}
}

// TestFullSlotsCancelReservations checks that when maxTracked jobs hold slots due later,
// a job that must wait is told how long but holds no slot, and its reservation is
// cancelled: it takes no token, so the next job waits no longer than it does.
func TestFullSlotsCancelReservations(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cfg       Config
		perMinute int
	}{
		{"host limiter", Config{Rate: 1, Burst: 1}, 0},
		{"message limiter", Config{Rate: -1}, 60},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimits(tt.cfg)
			now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
			// One job goes; the next maxTracked wait, each holding a slot.
			for i := range maxTracked + 1 {
				l.Admit(nil, fmt.Sprintf("held%d", i), "busy.example.com", "busy", tt.perMinute, now, now.Add(time.Minute))
			}
			if len(l.slots) != maxTracked {
				t.Fatalf("%d slots held, want %d", len(l.slots), maxTracked)
			}
			if wait, _ := l.Admit(nil, "d1", "h.example.com", "m", tt.perMinute, now, now.Add(time.Minute)); wait != 0 {
				t.Fatalf("first delivery waits %v, want 0", wait)
			}
			for _, id := range []string{"d2", "d3"} {
				if wait, _ := l.Admit(nil, id, "h.example.com", "m", tt.perMinute, now, now.Add(time.Minute)); wait != time.Second {
					t.Errorf("delivery %s waits %v, want 1s: a delivery without a slot must not take a token", id, wait)
				}
				if _, ok := l.slots[id]; ok {
					t.Errorf("delivery %s holds a slot, want none while they are full", id)
				}
			}
			if len(l.slots) != maxTracked {
				t.Errorf("%d slots held, want %d", len(l.slots), maxTracked)
			}
		})
	}
}

// TestPausedHostForgetsReservedSlots checks that a job held back by a rate limit and then
// by a paused host asks for a new slot when the pause ends, rather than going at once on the
// slot it was given before the pause: jobs held by a pause do not all go together.
func TestPausedHostForgetsReservedSlots(t *testing.T) {
	l := newLimits(Config{Rate: 1, Burst: 1, Threshold: 1, Cooldown: 10 * time.Second})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const host = "hooks.example.com"
	l.Admit(nil, "a", host, "m", 0, now, now.Add(time.Minute))
	if wait, _ := l.Admit(nil, "b", host, "m", 0, now, now.Add(time.Minute)); wait != time.Second {
		t.Fatalf("second delivery waits %v, want 1s", wait)
	}
	_, _ = l.Done(host, now.Add(time.Minute), Failed, now)
	if wait, _ := l.Admit(nil, "b", host, "m", 0, now.Add(2*time.Second), now.Add(2*time.Second).Add(time.Minute)); wait != 8*time.Second {
		t.Fatalf("during the pause the delivery waits %v, want 8s", wait)
	}
	end := now.Add(10 * time.Second)
	if wait, _ := l.Admit(nil, "c", host, "m", 0, end, end.Add(time.Minute)); wait != 0 {
		t.Fatalf("first delivery after the pause waits %v, want 0", wait)
	}
	_, _ = l.Done(host, end.Add(time.Minute), Succeeded, end)
	if wait, _ := l.Admit(nil, "b", host, "m", 0, end, end.Add(time.Minute)); wait != time.Second {
		t.Errorf("after the pause, the delivery that had a slot before it waits %v, want 1s", wait)
	}
}

// newLimits returns Limits with cfg's fields, and the Sender's defaults for those it leaves
// zero.
func newLimits(cfg Config) *Limits {
	def := Config{Rate: 50, Burst: 10, Threshold: 20, Cooldown: time.Minute}
	if cfg.Rate == 0 {
		cfg.Rate = def.Rate
	}
	if cfg.Burst == 0 {
		cfg.Burst = def.Burst
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = def.Threshold
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = def.Cooldown
	}
	return New(cfg)
}

// A host whose last attempt failed gets one attempt at a time: the first job that comes while
// it is in flight is parked, to go when it ends, and others wait until its deadline, so that a
// host that hangs holds one worker. A success lifts the rule; uncounted attempts neither lift
// nor set it.
func TestFailingHostGetsOneAttemptAtATime(t *testing.T) {
	l := newLimits(Config{Rate: -1})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const host = "slow.example.com"
	admit := func(job string, at time.Time) (time.Duration, bool) {
		return l.Admit(job, job, host, "m", 0, at, at.Add(30*time.Second))
	}
	for i := range 3 { // a healthy host: no limit on attempts in flight
		if wait, parked := admit(fmt.Sprint("a", i), now); wait != 0 || parked {
			t.Fatalf("attempt %d to a healthy host waits %v, parked %v; want neither", i, wait, parked)
		}
	}
	for range 3 {
		if next, _ := l.Done(host, now.Add(30*time.Second), Failed, now.Add(30*time.Second)); next != nil {
			t.Fatalf("Done returned %v parked, want nothing", next)
		}
	}
	later := now.Add(31 * time.Second)
	if wait, _ := admit("probe", later); wait != 0 {
		t.Fatalf("the first attempt to a failing host waits %v, want 0", wait)
	}
	if _, parked := admit("b", later); !parked {
		t.Errorf("a second attempt while the probe is in flight was not parked")
	}
	if wait, parked := admit("c", later); wait != 30*time.Second || parked {
		t.Errorf("a third attempt waits %v, parked %v; want until the probe's deadline (30s), not parked", wait, parked)
	}
	if wait, _ := l.Admit("other", "other", "other.example.com", "m", 0, later, later.Add(30*time.Second)); wait != 0 {
		t.Errorf("an attempt to another host waits %v, want 0", wait)
	}
	if next, _ := l.Done(host, later.Add(30*time.Second), Uncounted, later); next != "b" {
		t.Errorf("Done of the probe returned %v, want the parked job b", next)
	}
	if wait, _ := admit("b", later); wait != 0 {
		t.Errorf("once the probe ended, the parked job waits %v, want 0", wait)
	}
	if _, parked := admit("c", later); !parked {
		t.Errorf("an uncounted end kept the host failing, but the next attempt was not parked")
	}
	if next, _ := l.Done(host, later.Add(30*time.Second), Succeeded, later); next != "c" {
		t.Errorf("Done returned %v, want the parked job c", next)
	}
	for i := range 3 {
		if wait, parked := admit(fmt.Sprint("d", i), later); wait != 0 || parked {
			t.Errorf("attempt %d after a success waits %v, parked %v; want neither", i, wait, parked)
		}
	}
}

// TestBreakerChanges checks what Done reports as a host's breaker opens, opens again after
// its cool-down, and closes, and that OpenBreakers counts the host from the opening to the
// closing.
func TestBreakerChanges(t *testing.T) {
	l := newLimits(Config{Threshold: 2, Cooldown: time.Minute})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const host = "hooks.example.com"
	l.Admit(nil, "other", "other.example.com", "m", 0, now, now.Add(time.Minute))
	steps := []struct {
		o       Outcome
		want    Change
		open    int
		breaker string // at the end of the attempt, and after the cool-down
		later   string
	}{
		{Failed, Unchanged, 0, "closed", "closed"},
		{Succeeded, Unchanged, 0, "closed", "closed"}, // a success before the threshold closes nothing
		{Failed, Unchanged, 0, "closed", "closed"},
		{Uncounted, Unchanged, 0, "closed", "closed"},
		{Failed, Opened, 1, "open", "half-open"},
		{Failed, Opened, 1, "open", "half-open"}, // after the cool-down, one more failure opens it again
		{Succeeded, Closed, 0, "closed", "closed"},
		{Succeeded, Unchanged, 0, "closed", "closed"},
	}
	for i, s := range steps {
		at := now.Add(time.Duration(i) * time.Hour) // each after the cool-down of the one before
		deadline := at.Add(time.Minute)
		if wait, parked := l.Admit(nil, fmt.Sprint(i), host, "m", 0, at, deadline); wait != 0 || parked {
			t.Fatalf("step %d: Admit = %v, %v; want the attempt admitted", i, wait, parked)
		}
		if _, got := l.Done(host, deadline, s.o, at); got != s.want {
			t.Errorf("step %d: Done(%v) = %v, want %v", i, s.o, got, s.want)
		}
		if got := l.OpenBreakers(); got != s.open {
			t.Errorf("step %d: OpenBreakers() = %d, want %d", i, got, s.open)
		}
		if got, later := l.Breaker(host, at), l.Breaker(host, at.Add(time.Minute)); got != s.breaker || later != s.later {
			t.Errorf("step %d: Breaker() = %q, then %q after the cool-down; want %q, %q", i, got, later, s.breaker, s.later)
		}
	}
	if got := l.Breaker("unknown.example.com", now); got != "closed" {
		t.Errorf("Breaker of a host never attempted = %q, want closed", got)
	}
}

// A host that has held an attempt for a quarter of its time is suspect before the attempt
// fails: the next job is parked, and others wait, as for a failing host.
func TestSlowHostIsSuspect(t *testing.T) {
	l := newLimits(Config{Rate: -1})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const host = "hangs.example.com"
	if wait, _ := l.Admit("a", "a", host, "m", 0, now, now.Add(40*time.Second)); wait != 0 {
		t.Fatalf("the first attempt waits %v, want 0", wait)
	}
	if wait, parked := l.Admit("b", "b", host, "m", 0, now.Add(9*time.Second), now.Add(49*time.Second)); wait != 0 || parked {
		t.Errorf("an attempt while the first has been in flight for 9s of 40 waits %v, parked %v; want neither", wait, parked)
	}
	later := now.Add(11 * time.Second)
	if _, parked := l.Admit("c", "c", host, "m", 0, later, later.Add(40*time.Second)); !parked {
		t.Errorf("an attempt while the first has been in flight for 11s of 40 was not parked")
	}
	if wait, _ := l.Admit("d", "d", host, "m", 0, later, later.Add(40*time.Second)); wait != 29*time.Second {
		t.Errorf("the next attempt waits %v, want until the first's deadline (29s)", wait)
	}
}

// The jobs turned away from a failing host come back a quarter of an attempt's time apart,
// from the deadline of the attempt in flight on, not all at once.
func TestJobsTurnedAwayComeBackSpread(t *testing.T) {
	l := newLimits(Config{Rate: -1})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const host = "down.example.com"
	deadline := now.Add(40 * time.Second)
	l.Admit(nil, "a", host, "m", 0, now, deadline)
	_, _ = l.Done(host, deadline, Failed, now)
	l.Admit(nil, "probe", host, "m", 0, now, deadline)
	l.Admit("parked", "parked", host, "m", 0, now, deadline)
	for i, want := range []time.Duration{40 * time.Second, 50 * time.Second, 60 * time.Second, 70 * time.Second} {
		id := fmt.Sprint("w", i)
		if wait, parked := l.Admit(id, id, host, "m", 0, now, deadline); wait != want || parked {
			t.Errorf("job %d turned away waits %v, parked %v; want %v", i, wait, parked, want)
		}
	}
}

// The attempts in flight are kept in deadline order whatever order they start and end in:
// the first deadline is always the earliest of those that have not passed.
func TestInFlightDeadlines(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return now.Add(time.Duration(s) * time.Second) }
	var l limiter
	for _, s := range []int{10, 12, 11, 30, 5, 12, 20} {
		l.start(at(s))
	}
	for _, tt := range []struct {
		end   []int // deadlines of attempts that end
		now   int
		first int // 0 for none
	}{
		{nil, 0, 5},
		{[]int{5}, 0, 10},
		{[]int{12, 99}, 0, 10}, // one of the two at 12 ends; none is at 99
		{nil, 10, 11},          // the attempt until 10 must have ended
		{[]int{11}, 10, 12},
		{[]int{12}, 10, 20},
		{nil, 25, 30},
		{[]int{30}, 25, 0},
	} {
		for _, s := range tt.end {
			l.end(at(s))
		}
		got := l.firstDeadline(at(tt.now))
		if want := at(tt.first); tt.first == 0 && !got.IsZero() || tt.first != 0 && !got.Equal(want) {
			t.Errorf("after ends %v, firstDeadline(%v) = %v, want %v", tt.end, at(tt.now), got, want)
		}
	}
}
