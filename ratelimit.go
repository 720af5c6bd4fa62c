package webhook

import (
	"context"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the sending limits in [Config].
const (
	defaultHostRate         = 50
	defaultHostBurst        = 10
	defaultBreakerThreshold = 20
	defaultBreakerCooldown  = time.Minute
	// maxTracked bounds the hosts and messages whose limiter state a Sender keeps, and the
	// deliveries holding a reserved slot; idle ones are forgotten first.
	maxTracked = 10_000
)

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

// limits holds a Sender's rate limiters and circuit breakers. Time is always passed in, from
// the Sender's Clock: the limiters never read the system clock.
type limits struct {
	hostRate  rate.Limit // rate.Inf if unlimited
	hostBurst int
	threshold int // failures that open a breaker; 0 if there is no breaker
	cooldown  time.Duration

	mu       sync.Mutex // guards the maps
	hosts    map[string]*limiter
	messages map[string]*limiter
	slots    map[string]time.Time // delivery ID → the time a limiter reserved for it
}

// newLimits returns the limits a Config asks for.
func newLimits(cfg *Config) *limits {
	l := &limits{
		hostRate:  rate.Limit(orDefault(cfg.HostRate, defaultHostRate)),
		hostBurst: orDefault(cfg.HostBurst, defaultHostBurst),
		threshold: orDefault(cfg.BreakerThreshold, defaultBreakerThreshold),
		cooldown:  orDefault(cfg.BreakerCooldown, defaultBreakerCooldown),
		hosts:     map[string]*limiter{},
		messages:  map[string]*limiter{},
		slots:     map[string]time.Time{},
	}
	if l.hostRate < 0 {
		l.hostRate = rate.Inf
	}
	l.threshold = max(l.threshold, 0)
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

// admit returns how long a delivery must wait before it may be sent to host at now: 0 to
// send it now. A delivery that must wait holds a reserved slot, so deliveries waiting for
// the same limiter come due one after another instead of all at once; perMinute > 0 limits
// the message too.
func (l *limits) admit(deliveryID, host, messageID string, perMinute int, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := get(l.hosts, host, now, func() *rate.Limiter {
		if l.hostRate == rate.Inf {
			return nil
		}
		return rate.NewLimiter(l.hostRate, l.hostBurst)
	})
	if h.paused.After(now) {
		delete(l.slots, deliveryID) // it asks for a new slot when the pause ends
		return h.paused.Sub(now)
	}
	if slot, ok := l.slots[deliveryID]; ok {
		delete(l.slots, deliveryID)
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
					delete(l.slots, id) // the delivery went elsewhere or was cancelled
				}
			}
		}
		if len(l.slots) < maxTracked {
			l.slots[deliveryID] = now.Add(wait)
		} else {
			for _, r := range rs {
				r.CancelAt(now)
			}
		}
	}
	return wait
}

// record counts an attempt to host for its circuit breaker. A failure is an attempt the
// standard policy would retry (a network error, a timeout, 408, 409, 429 or 5xx); after
// threshold of them in a row, the host is paused for the cool-down. It reports whether this
// attempt paused the host. After a cool-down one more failure pauses it again.
func (l *limits) record(host string, res AttemptResult) bool {
	if l.threshold == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		return false
	}
	if !Retryable(res) {
		h.failures = 0
		return false
	}
	h.failures++
	if h.failures >= l.threshold {
		h.paused = res.End.Add(l.cooldown)
		return true
	}
	return false
}

// throttle reschedules a rendered delivery to host that a rate limit or a paused host holds
// back, without counting an attempt, and reports whether it did. The delivery keeps its
// rendered request and comes due when it may be sent.
func (s *Sender) throttle(ctx context.Context, j *Job, host string, now time.Time) bool {
	perMinute := 0
	if cm, err := s.compiled(ctx, j.MessageID, j.MessageVersion); err == nil {
		perMinute = cm.msg.MaxPerMinute
	}
	wait := s.limits.admit(j.ID, host, j.MessageID, perMinute, now)
	if wait <= 0 {
		return false
	}
	s.putOff(ctx, j, now.Add(wait))
	s.log.LogAttrs(ctx, slog.LevelDebug, "webhook: delivery held back by a rate limit or a paused host",
		slog.String("delivery_id", j.ID), slog.Time("due_at", j.DueAt))
	return true
}

// observe feeds an attempt's result to its host's circuit breaker.
func (s *Sender) observe(ctx context.Context, host string, res AttemptResult) {
	res.End = s.clock.Now()
	if s.limits.record(host, res) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "webhook: host paused after consecutive failures",
			slog.String("host", host), slog.Int("failures", s.limits.threshold),
			slog.Time("until", res.End.Add(s.limits.cooldown)))
	}
}

// requestHost is the host (and port) a request goes to, the key of its limiter.
func requestHost(r *Request) string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}
