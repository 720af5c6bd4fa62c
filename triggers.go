package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Cap limits how many deliveries a user is sent across all messages in a rolling window: at
// most Max in any Per, counting the deliveries that succeeded (see [AttemptStore.CountSent]).
//
// A cap is checked before the first attempt of each delivery. A Sender checks and sends one
// such delivery to a user at a time (others to the same user wait for it), so each check
// counts every send before it and one Sender keeps a cap exactly, except that a delivery that
// passed the check and is waiting for a retry is counted only once it succeeds. Senders that
// share a Store do not wait for each other: a cap can be exceeded by one delivery per other
// Sender sending to the same user at the same moment.
type Cap struct {
	// Max is the most deliveries in the window. It must be at least 1.
	Max int
	// Per is the window's length, such as 24*time.Hour for "per day" or 7*24*time.Hour for
	// "per week". It must be positive.
	Per time.Duration
}

// QuietHours is a daily period, in each user's time zone (Config.DefaultTimeZone for users
// without one), during which no delivery is sent: a delivery that comes due in quiet hours,
// including a retry, is held and sent when they end. Holding a delivery is not an attempt and
// is not logged as one. The zero QuietHours is none.
type QuietHours struct {
	// Start is the wall-clock time of day quiet hours begin, as the time since midnight:
	// 22*time.Hour for 22:00. It must be in [0, 24h).
	Start time.Duration
	// End is the wall-clock time of day they end, in [0, 24h). An End before Start spans
	// midnight: Start 22h, End 8h is 22:00 to 08:00 the next day. It must differ from Start.
	End time.Duration
}

// until reports whether t is in quiet hours in t's location and, if so, when they end. On a
// daylight-saving day an end that falls in the skipped hour is moved forward by the skip.
func (q QuietHours) until(t time.Time) (time.Time, bool) {
	if q == (QuietHours{}) {
		return time.Time{}, false
	}
	y, mo, d := t.Date()
	tod := timeOfDay(t)
	switch {
	case q.Start < q.End && q.Start <= tod && tod < q.End, q.Start > q.End && tod < q.End:
		// Quiet hours end today.
	case q.Start > q.End && tod >= q.Start:
		d++ // they end tomorrow
	default:
		return time.Time{}, false
	}
	end := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Add(q.End) // the wall-clock end, as UTC
	local := time.Date(y, mo, d, end.Hour(), end.Minute(), end.Second(), end.Nanosecond(), t.Location())
	if timeOfDay(local) != q.End {
		// The end is in a daylight-saving gap, and time.Date took the offset after it. The
		// offset before it puts the end as far past the gap as the wall time is into it.
		_, before := local.Add(-12 * time.Hour).Zone()
		local = end.Add(-time.Duration(before) * time.Second)
	}
	return local, local.After(t)
}

// timeOfDay returns t's wall-clock time since midnight.
func timeOfDay(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// validateCaps adds the problems of Config.Caps and Config.QuietHours to ps.
func validateCaps(caps []Cap, q QuietHours, ps *problems) {
	for i, c := range caps {
		if c.Max < 1 {
			ps.add(fmt.Sprintf("Caps[%d].Max", i), "must be at least 1, got %d", c.Max)
		}
		if c.Per <= 0 {
			ps.add(fmt.Sprintf("Caps[%d].Per", i), "must be positive, got %v", c.Per)
		}
	}
	for _, f := range []struct {
		path string
		v    time.Duration
	}{{"QuietHours.Start", q.Start}, {"QuietHours.End", q.End}} {
		if f.v < 0 || f.v >= 24*time.Hour {
			ps.add(f.path, "%v is not a time of day in [0, 24h)", f.v)
		}
	}
	if q.Start == q.End && q.Start != 0 {
		ps.add("QuietHours.End", "equals Start (%v): quiet hours would be empty", q.Start)
	}
}

// validateTrigger adds the problems of d's trigger rules (Delay, Unless, Once) to ps.
func (d *Delivery) validateTrigger(ps *problems) {
	if d.kind() != Triggered {
		if d.Delay != 0 {
			ps.add("delivery.delay", "only a triggered message has a delay")
		}
		if d.Unless != "" {
			ps.add("delivery.unless", "only a triggered message has an unless event")
		}
		if d.Once {
			ps.add("delivery.once", "only a triggered message is limited to once per user")
		}
		return
	}
	if d.Delay < 0 {
		ps.add("delivery.delay", "must not be negative, got %v", d.Delay)
	}
	switch {
	case d.Unless == "":
	case d.Unless == d.Event:
		ps.add("delivery.unless", "must differ from the event %q", d.Event)
	case d.Delay <= 0:
		ps.add("delivery.unless", "needs a delay: without one the delivery is due before %q can cancel it", d.Unless)
	}
}

// onTrigger applies d's Delay, Unless and Once to j, a delivery of d's message enqueued at now
// for event e.
func (d *Delivery) onTrigger(j *Job, e Event, now time.Time) {
	if due := e.Time.Add(d.Delay); d.Delay > 0 && due.After(now) {
		j.DueAt = due
	}
	j.Unless = d.Unless
	if d.Once {
		j.Key = jobKey(j.MessageID, j.UserID, "once")
	}
}

// cancelUnless cancels the deliveries to e's user that e cancels (see Delivery.Unless) and
// were enqueued no later than now, and logs each as a Cancelled attempt.
func (s *Sender) cancelUnless(ctx context.Context, e Event, now time.Time) error {
	jobs, err := s.store.Cancel(ctx, JobFilter{UserID: e.UserID, Unless: e.Name, CreatedBefore: now.Add(time.Nanosecond)})
	if err != nil {
		return fmt.Errorf("cancel deliveries: %w", err)
	}
	for _, j := range jobs {
		a := &Attempt{
			DeliveryID: j.ID, MessageID: j.MessageID, MessageVersion: j.MessageVersion, UserID: j.UserID,
			Number: j.Attempts + 1, Time: now, Outcome: Cancelled, Err: fmt.Sprintf("cancelled by event %q", e.Name),
		}
		// The job is cancelled, not leased: Finish records the attempt and reports the lease
		// lost, which is expected.
		if err := s.store.Finish(ctx, j, a); err != nil && !errors.Is(err, ErrLeaseLost) {
			return fmt.Errorf("log cancelled delivery %s: %w", j.ID, err)
		}
		s.logRule(ctx, a, "webhook: delivery cancelled")
	}
	return nil
}

// admit applies quiet hours and delivery caps to a delivery whose attempt a is about to be
// made, and reports whether it may go ahead. If not, admit has dealt with the delivery: held
// it until quiet hours end (not an attempt: nothing is logged and its attempt count is given
// back), skipped it over a cap (logged as Skipped), or, if the Store failed, logged the attempt
// as failed and scheduled a retry.
//
// The caller must call done once the attempt is recorded, whatever ok is: a delivery checked
// against caps holds its user's lock until then, so that this Sender checks and sends one
// delivery to a user at a time and each check counts the sends before it.
func (s *Sender) admit(ctx context.Context, j *Job, a *Attempt) (done func(), ok bool) {
	done = func() {}
	cm, err := s.compiled(ctx, j.MessageID, j.MessageVersion)
	if err != nil {
		return done, true // rendering reports it; a rendered retry does not need the message
	}
	d := &cm.msg.Delivery
	a.IgnoreCaps = d.IgnoreCaps
	if s.quiet != (QuietHours{}) && !d.IgnoreQuietHours {
		u, err := s.user(ctx, j.UserID)
		if err != nil {
			s.refuse(ctx, j, a, err)
			return done, false
		}
		if end, ok := s.quiet.until(a.Time.In(s.location(u))); ok {
			j.Attempts--
			j.State, j.DueAt = JobScheduled, end
			s.finish(ctx, j, nil)
			s.log.LogAttrs(ctx, slog.LevelDebug, "webhook: delivery held for quiet hours",
				slog.String("delivery_id", j.ID), slog.String("user_id", j.UserID), slog.Time("until", end))
			return done, false
		}
	}
	if len(s.caps) == 0 || d.IgnoreCaps || a.Number > 1 {
		return done, true
	}
	done, err = s.capped.lock(ctx, j.UserID)
	if err != nil {
		s.release(j) // the Sender is stopping
		return func() {}, false
	}
	for _, c := range s.caps {
		n, err := s.store.CountSent(ctx, j.UserID, a.Time.Add(-c.Per))
		if err != nil {
			s.refuse(ctx, j, a, fmt.Errorf("count deliveries for caps: %w", err))
			return done, false
		}
		if n >= c.Max {
			a.Outcome, a.Err = Skipped, fmt.Sprintf("delivery cap reached: %d sent in %v, at most %d", n, c.Per, c.Max)
			j.State = JobSkipped
			s.finish(ctx, j, a)
			s.logRule(ctx, a, "webhook: delivery skipped")
			return done, false
		}
	}
	return done, true
}

// userLocks is a lock per user ID. The zero userLocks is ready to use.
type userLocks struct {
	mu   sync.Mutex               // guards held
	held map[string]chan struct{} // user ID → closed when its holder unlocks
}

// lock waits until no one holds id's lock, takes it, and returns the function that releases
// it. It returns ctx's error if ctx ends first.
func (l *userLocks) lock(ctx context.Context, id string) (unlock func(), err error) {
	for {
		l.mu.Lock()
		wait, busy := l.held[id]
		if !busy {
			if l.held == nil {
				l.held = map[string]chan struct{}{}
			}
			mine := make(chan struct{})
			l.held[id] = mine
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, id)
				l.mu.Unlock()
				close(mine)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// refuse ends an attempt that admit could not decide because the Store failed: it is logged
// and retried as a network error would be, or put back unlogged if the Sender is stopping.
func (s *Sender) refuse(ctx context.Context, j *Job, a *Attempt, err error) {
	if ctx.Err() != nil {
		s.release(j)
		return
	}
	a.Err = err.Error()
	s.conclude(ctx, j, a, AttemptResult{Attempt: a.Number, Err: err}, false)
}

// logRule logs a delivery that a rule stopped (a Skipped or Cancelled attempt) at info level.
func (s *Sender) logRule(ctx context.Context, a *Attempt, msg string) {
	s.log.LogAttrs(ctx, slog.LevelInfo, msg,
		slog.String("delivery_id", a.DeliveryID), slog.String("message_id", a.MessageID),
		slog.String("user_id", a.UserID), slog.String("reason", a.Err))
}
