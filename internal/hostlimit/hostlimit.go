// Package hostlimit holds the rate limiters and circuit breakers of the hosts a Sender sends
// to, and the rate limiters of messages.
package hostlimit

import (
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxTracked bounds the hosts and messages whose limiter state Limits keep, and the jobs
// holding a reserved slot; idle ones are forgotten first.
const maxTracked = 10_000

// limiter is the rate limit, and for a host the circuit breaker and the attempts in flight, of
// one destination host or one message.
type limiter struct {
	rate     *rate.Limiter // nil if unlimited
	failures int           // consecutive failed attempts
	paused   time.Time     // no attempt before this time
	inFlight []time.Time   // the deadlines of the attempts in flight, earliest first
	parked   any           // a job waiting for an attempt in flight to end, or nil
	spread   time.Time     // when the next job turned away from a suspect host comes back
}

// idle reports whether forgetting l changes nothing: its bucket is full, its breaker is
// closed and nothing is in flight.
func (l *limiter) idle(now time.Time) bool {
	return l.failures == 0 && !l.paused.After(now) && l.firstDeadline(now).IsZero() && l.parked == nil &&
		(l.rate == nil || l.rate.TokensAt(now) >= float64(l.rate.Burst()))
}

// firstDeadline drops the attempts in flight whose deadline has passed at now, which must have
// ended, and returns the earliest deadline of the others, or the zero time if there are none.
func (l *limiter) firstDeadline(now time.Time) time.Time {
	i := 0
	for i < len(l.inFlight) && !l.inFlight[i].After(now) {
		i++
	}
	l.inFlight = l.inFlight[i:]
	if len(l.inFlight) == 0 {
		return time.Time{}
	}
	return l.inFlight[0]
}

// start adds an attempt in flight until deadline. Deadlines mostly come in order: its place
// is found from the end.
func (l *limiter) start(deadline time.Time) {
	i := len(l.inFlight)
	for i > 0 && l.inFlight[i-1].After(deadline) {
		i--
	}
	l.inFlight = slices.Insert(l.inFlight, i, deadline)
}

// end removes an attempt in flight until deadline, if there is one.
func (l *limiter) end(deadline time.Time) {
	if i, ok := slices.BinarySearchFunc(l.inFlight, deadline, time.Time.Compare); ok {
		l.inFlight = slices.Delete(l.inFlight, i, i+1)
	}
}

// Limits are the rate limiters and circuit breakers of destination hosts, and the rate
// limiters of messages. Time is always passed in, from the caller's clock: the limiters never
// read the system clock. A Limits is safe for concurrent use.
type Limits struct {
	hostRate  rate.Limit // rate.Inf if unlimited
	hostBurst int
	threshold int // failures that open a breaker; 0 if there is no breaker
	cooldown  time.Duration

	mu       sync.Mutex // guards the maps
	hosts    map[string]*limiter
	messages map[string]*limiter
	slots    map[string]time.Time // delivery ID → the time a limiter reserved for it
}

// Config configures Limits.
type Config struct {
	// Rate is how many requests per second go to one host, on average; negative means no
	// limit.
	Rate float64
	// Burst is how many requests to one host may go at once before Rate applies.
	Burst int
	// Threshold is how many failed attempts in a row to one host pause it; 0 or negative
	// means no breaker.
	Threshold int
	// Cooldown is how long a host is paused.
	Cooldown time.Duration
}

// New returns the Limits cfg asks for.
func New(cfg Config) *Limits {
	l := &Limits{
		hostRate:  rate.Limit(cfg.Rate),
		hostBurst: cfg.Burst,
		threshold: cfg.Threshold,
		cooldown:  cfg.Cooldown,
		hosts:     map[string]*limiter{},
		messages:  map[string]*limiter{},
		slots:     map[string]time.Time{},
	}
	if l.hostRate < 0 {
		l.hostRate = rate.Inf
	}
	return l
}

// get returns the limiter of key in m, creating it with newRate if there is none, after
// forgetting idle limiters if m is full.
func get(m map[string]*limiter, key string, now time.Time, newRate func() *rate.Limiter) *limiter {
	if l := m[key]; l != nil {
		return l
	}
	if len(m) >= maxTracked {
		for k, l := range m {
			if l.idle(now) {
				delete(m, k)
			}
		}
		for k := range m {
			if len(m) < maxTracked*9/10 {
				break
			}
			delete(m, k) // all busy: forget some at random rather than grow
		}
	}
	l := &limiter{rate: newRate()}
	m[key] = l
	return l
}

// Admit returns how long a job must wait before it may be sent to host at now: 0 to send it
// now. A job that must wait holds a reserved slot, so jobs waiting for the same limiter come
// due one after another instead of all at once; perMinute > 0 limits the message too.
//
// A host whose last attempt failed, or which has held an attempt for a quarter of its time,
// gets one attempt at a time: while one is in flight, others wait until its deadline, and
// then a quarter of an attempt's time after each other, so that a host that hangs until the
// timeout holds one worker, not all of them, and its jobs do not all come back at once. The first of them is parked instead: Admit keeps job, reports parked, and
// [Limits.Done] returns it when the attempt in flight ends, for the caller to attempt next;
// the others wait. An admitted attempt is in flight until Done is called with its deadline.
func (l *Limits) Admit(job any, jobID, host, messageID string, perMinute int, now, deadline time.Time) (wait time.Duration, parked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, wait, busy := l.admit(jobID, host, messageID, perMinute, now, deadline)
	switch {
	case wait == 0:
		h.start(deadline)
	case !busy:
	case job != nil && h.parked == nil:
		h.parked = job
		return wait, true
	default:
		// The jobs turned away come back one after another, a quarter of an attempt's time
		// apart from the deadline of the one in flight on, not all at that deadline.
		back := now.Add(wait)
		if h.spread.After(back) {
			back = h.spread
		}
		h.spread = back.Add(deadline.Sub(now) / 4)
		wait = back.Sub(now)
	}
	return wait, false
}

// admit is Admit, but for counting the attempt in flight, with l.mu held. It returns the
// host's limiter.
func (l *Limits) admit(jobID, host, messageID string, perMinute int, now, deadline time.Time) (*limiter, time.Duration, bool) {
	h := get(l.hosts, host, now, func() *rate.Limiter {
		if l.hostRate == rate.Inf {
			return nil
		}
		return rate.NewLimiter(l.hostRate, l.hostBurst)
	})
	if h.paused.After(now) {
		delete(l.slots, jobID) // it asks for a new slot when the pause ends
		return h, h.paused.Sub(now), false
	}
	// A host is suspect when its last attempt failed, or when an attempt has been in flight
	// for a quarter of its time (each attempt's deadline is as far from its start as the new
	// one's): a host that hangs is suspect long before its first attempt times out.
	first := h.firstDeadline(now)
	slow := !first.IsZero() && first.Before(now.Add(3*deadline.Sub(now)/4))
	if (h.failures > 0 || slow) && !first.IsZero() {
		delete(l.slots, jobID)
		return h, first.Sub(now), true
	}
	if slot, ok := l.slots[jobID]; ok {
		delete(l.slots, jobID)
		if !slot.After(now) {
			return h, 0, false
		}
	}
	var rs []*rate.Reservation
	if h.rate != nil {
		rs = append(rs, h.rate.ReserveN(now, 1))
	}
	if perMinute > 0 {
		limit, burst := rate.Limit(float64(perMinute)/60), int(math.Ceil(float64(perMinute)/60))
		m := get(l.messages, messageID, now, func() *rate.Limiter { return rate.NewLimiter(limit, burst) })
		if m.rate.Limit() != limit { // a new version of the message changed its limit
			m.rate.SetLimitAt(now, limit)
			m.rate.SetBurstAt(now, burst)
		}
		rs = append(rs, m.rate.ReserveN(now, 1))
	}
	var wait time.Duration
	for _, r := range rs {
		wait = max(wait, r.DelayFrom(now)) // a burst of at least 1 makes every reservation OK
	}
	if wait > 0 {
		if len(l.slots) >= maxTracked {
			for id, slot := range l.slots {
				if slot.Before(now) {
					delete(l.slots, id) // the job went elsewhere or was cancelled
				}
			}
		}
		if len(l.slots) < maxTracked {
			l.slots[jobID] = now.Add(wait)
		} else {
			for _, r := range rs {
				r.CancelAt(now)
			}
		}
	}
	return h, wait, false
}

// Outcome is how an attempt admitted by [Limits.Admit] ended, as its host's breaker counts it.
type Outcome int

const (
	// Uncounted attempts did not reach the host: the breaker does not count them.
	Uncounted Outcome = iota
	// Succeeded attempts close the breaker.
	Succeeded
	// Failed attempts count toward opening it: the caller decides what fails (the Sender
	// counts what webhook.Retryable reports).
	Failed
)

// Change is what an attempt did to its host's circuit breaker.
type Change int

const (
	// Unchanged: the breaker stayed as it was.
	Unchanged Change = iota
	// Opened: the attempt paused the host, for the first time or again after a cool-down.
	Opened
	// Closed: the attempt succeeded on a host whose breaker had opened.
	Closed
)

// Done ends an attempt to host admitted with the given deadline, which ended at end as o
// says. It returns the job parked for the host, if any, to attempt next, and what the attempt
// did to the host's breaker: after Threshold failures in a row, the host is paused for the
// cool-down (the breaker opens), after a cool-down one more failure pauses it again, and a
// success closes it.
func (l *Limits) Done(host string, deadline time.Time, o Outcome, end time.Time) (next any, ch Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		return nil, Unchanged
	}
	next, h.parked = h.parked, nil
	h.end(deadline)
	switch o {
	case Succeeded:
		open := l.threshold > 0 && h.failures >= l.threshold
		h.failures = 0
		if open {
			return next, Closed
		}
	case Failed:
		h.failures++
		if l.threshold > 0 && h.failures >= l.threshold {
			h.paused = end.Add(l.cooldown)
			return next, Opened
		}
	}
	return next, Unchanged
}

// OpenBreakers returns how many hosts have an open breaker: paused, or past their cool-down
// with no success since. It takes time in the number of hosts tracked, at most 10,000.
func (l *Limits) OpenBreakers() int {
	if l.threshold <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, h := range l.hosts {
		if h.failures >= l.threshold {
			n++
		}
	}
	return n
}

// Breaker returns the state of host's circuit breaker at now: "open" while the host is paused,
// "half-open" once the pause is over until an attempt succeeds or fails again, and "closed"
// otherwise, including for a host it does not track.
func (l *Limits) Breaker(host string, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	switch {
	case h == nil || l.threshold <= 0 || h.failures < l.threshold:
		return "closed"
	case h.paused.After(now):
		return "open"
	}
	return "half-open"
}

// Cooldown returns how long a failing host is paused.
func (l *Limits) Cooldown() time.Duration { return l.cooldown }
