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
		l.Admit(fmt.Sprintf("a%d", i), host, "m", 600, now)
		if wait := l.Admit(fmt.Sprintf("b%d", i), host, "m", 600, now); wait <= 0 {
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
		l.Admit(fmt.Sprintf("c%d", i), host, "other", 0, later)
		l.Admit(fmt.Sprintf("d%d", i), host, "other", 0, later)
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
		l.Admit(fmt.Sprintf("i%d", i), fmt.Sprintf("idle%d.example.com", i), "m", 0, start)
	}
	l.Admit("f", "failing.example.com", "m", 0, start)
	l.Record("failing.example.com", true, start)
	busy := maxTracked - idle - 1
	for i := range busy {
		l.Admit(fmt.Sprintf("b%d", i), fmt.Sprintf("busy%d.example.com", i), "m", 0, now)
	}
	if len(l.hosts) != maxTracked {
		t.Fatalf("tracking %d hosts before the new one, want %d", len(l.hosts), maxTracked)
	}

	if wait := l.Admit("n", "new.example.com", "m", 0, now); wait != 0 {
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
		l.Admit(fmt.Sprintf("a%d", i), fmt.Sprintf("h%d.example.com", i), "m", 0, now)
	}
	if wait := l.Admit("n", "new.example.com", "m", 0, now); wait != 0 {
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
				l.Admit(fmt.Sprintf("held%d", i), "busy.example.com", "busy", tt.perMinute, now)
			}
			if len(l.slots) != maxTracked {
				t.Fatalf("%d slots held, want %d", len(l.slots), maxTracked)
			}
			if wait := l.Admit("d1", "h.example.com", "m", tt.perMinute, now); wait != 0 {
				t.Fatalf("first delivery waits %v, want 0", wait)
			}
			for _, id := range []string{"d2", "d3"} {
				if wait := l.Admit(id, "h.example.com", "m", tt.perMinute, now); wait != time.Second {
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
	l.Admit("a", host, "m", 0, now)
	if wait := l.Admit("b", host, "m", 0, now); wait != time.Second {
		t.Fatalf("second delivery waits %v, want 1s", wait)
	}
	l.Record(host, true, now)
	if wait := l.Admit("b", host, "m", 0, now.Add(2*time.Second)); wait != 8*time.Second {
		t.Fatalf("during the pause the delivery waits %v, want 8s", wait)
	}
	end := now.Add(10 * time.Second)
	if wait := l.Admit("c", host, "m", 0, end); wait != 0 {
		t.Fatalf("first delivery after the pause waits %v, want 0", wait)
	}
	if wait := l.Admit("b", host, "m", 0, end); wait != time.Second {
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

// TestBreakerChanges checks what Record reports as a host's breaker opens, opens again after
// its cool-down, and closes, and that OpenBreakers counts the host from the opening to the
// closing.
func TestBreakerChanges(t *testing.T) {
	l := newLimits(Config{Threshold: 2, Cooldown: time.Minute})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const host = "hooks.example.com"
	l.Admit("a", host, "m", 0, now)
	l.Admit("a", "other.example.com", "m", 0, now)
	steps := []struct {
		failed bool
		want   Change
		open   int
	}{
		{true, Unchanged, 0},
		{false, Unchanged, 0}, // a success before the threshold closes nothing
		{true, Unchanged, 0},
		{true, Opened, 1},
		{true, Opened, 1}, // after the cool-down, one more failure opens it again
		{false, Closed, 0},
		{false, Unchanged, 0},
	}
	for i, s := range steps {
		if got := l.Record(host, s.failed, now); got != s.want {
			t.Errorf("step %d: Record(failed=%v) = %v, want %v", i, s.failed, got, s.want)
		}
		if got := l.OpenBreakers(); got != s.open {
			t.Errorf("step %d: OpenBreakers() = %d, want %d", i, got, s.open)
		}
	}
	if got := New(Config{Threshold: 0}).Record(host, true, now); got != Unchanged {
		t.Errorf("without a breaker, Record = %v, want Unchanged", got)
	}
}
