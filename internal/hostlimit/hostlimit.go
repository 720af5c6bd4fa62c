// Package hostlimit holds the rate limiters and circuit breakers of the hosts a Sender sends
// to, and the rate limiters of messages.
package hostlimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxTracked bounds the hosts and messages whose limiter state Limits keep, and the jobs
// holding a reserved slot; idle ones are forgotten first.
const maxTracked = 10_000

// limiter is the rate limit, and for a host the circuit breaker, of one destination host or
// one message.
type limiter struct {
	rate     *rate.Limiter // nil if unlimited
	failures int           // consecutive failed attempts
	paused   time.Time     // no attempt before this time
}

// idle reports whether forgetting l changes nothing: its bucket is full and its breaker is
// closed.
func (l *limiter) idle(now time.Time) bool {
	return l.failures == 0 && !l.paused.After(now) &&
		(l.rate == nil || l.rate.TokensAt(now) >= float64(l.rate.Burst()))
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
func (l *Limits) Admit(jobID, host, messageID string, perMinute int, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := get(l.hosts, host, now, func() *rate.Limiter {
		if l.hostRate == rate.Inf {
			return nil
		}
		return rate.NewLimiter(l.hostRate, l.hostBurst)
	})
	if h.paused.After(now) {
		delete(l.slots, jobID) // it asks for a new slot when the pause ends
		return h.paused.Sub(now)
	}
	if slot, ok := l.slots[jobID]; ok {
		delete(l.slots, jobID)
		if !slot.After(now) {
			return 0
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
	return wait
}

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

// Record counts an attempt to host that ended at end for its circuit breaker; failed says
// whether it failed (the caller decides what counts: a network error, a timeout, 408, 409,
// 429 or 5xx). After Threshold failures in a row, the host is paused for the cool-down: the
// breaker opens. After a cool-down one more failure opens it again, and a success closes it.
// Record reports what the attempt changed.
func (l *Limits) Record(host string, failed bool, end time.Time) Change {
	if l.threshold <= 0 {
		return Unchanged
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		return Unchanged
	}
	if !failed {
		open := h.failures >= l.threshold
		h.failures = 0
		if open {
			return Closed
		}
		return Unchanged
	}
	h.failures++
	if h.failures >= l.threshold {
		h.paused = end.Add(l.cooldown)
		return Opened
	}
	return Unchanged
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

// Cooldown returns how long a failing host is paused.
func (l *Limits) Cooldown() time.Duration { return l.cooldown }
