package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Cap limits how many deliveries a user is sent in a rolling window: at most Max in any Per,
// counting the deliveries that succeeded (see [AttemptStore.CountSent]). Config.Caps count
// the deliveries of all messages; a Delivery.Limit those of one message.
//
// A cap is checked before the first attempt of each delivery. A Sender checks and sends one
// such delivery to a user at a time (others to the same user wait for it), so each check
// counts every send before it and one Sender keeps a cap exactly, except that a delivery that
// passed the check and is waiting for a retry is counted only once it succeeds. Senders that
// share a Store do not wait for each other: a cap can be exceeded by one delivery per other
// Sender sending to the same user at the same moment.
type Cap struct {
	// Max is the most deliveries in the window. It must be at least 1.
	Max int `json:"max"`
	// Per is the window's length, such as 24*time.Hour for "per day" or 7*24*time.Hour for
	// "per week". It must be positive.
	Per time.Duration `json:"per"`
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
	// On a daylight-saving day, an End in the skipped hour is moved forward by the skip, and
	// an End in the repeated hour is its first occurrence.
	End time.Duration
}

// until reports whether t is in quiet hours in t's location and, if so, when they end: at End
// on the clocks there, as [wallClock] reads a time of day on a daylight-saving day.
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
	end := wallClock(time.Date(y, mo, d, 0, 0, 0, 0, time.UTC), q.End, t.Location()).In(t.Location())
	return end, end.After(t)
}

// timeOfDay returns t's wall-clock time since midnight.
func timeOfDay(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// validateCaps adds the problems of Config.Caps and Config.QuietHours to ps.
func validateCaps(caps []Cap, q QuietHours, ps *problems) {
	for i, c := range caps {
		c.validate(fmt.Sprintf("Caps[%d].Max", i), fmt.Sprintf("Caps[%d].Per", i), ps)
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

// validate adds c's problems to ps, with the paths of its fields.
func (c Cap) validate(maxPath, perPath string, ps *problems) {
	if c.Max < 1 {
		ps.add(maxPath, "must be at least 1, got %d", c.Max)
	}
	if c.Per <= 0 {
		ps.add(perPath, "must be positive, got %v", c.Per)
	}
}

// validateTrigger adds the problems of d's trigger rules (Delay, Unless, Once, Limit) to ps.
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
		if d.Limit != (Cap{}) {
			ps.add("delivery.limit", "only a triggered message has a limit")
		}
		return
	}
	if d.Limit != (Cap{}) {
		d.Limit.validate("delivery.limit.max", "delivery.limit.per", ps)
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
func (s *Sender) cancelUnless(ctx context.Context, store Store, e Event, now time.Time) error {
	jobs, err := store.Cancel(ctx, JobFilter{UserID: e.UserID, Unless: e.Name, CreatedBefore: now.Add(time.Nanosecond)})
	if err != nil {
		return fmt.Errorf("cancel deliveries: %w", err)
	}
	for _, j := range jobs {
		a, err := logCancelled(ctx, store, j, now, fmt.Sprintf("cancelled by event %q", e.Name))
		if err != nil {
			return err
		}
		s.logRule(ctx, a, "webhook: delivery cancelled")
	}
	return nil
}

// admit applies quiet hours, delivery caps and the message's Delivery.Limit to a delivery whose attempt a is about to be
// made, and reports whether it may go ahead. If not, admit has dealt with the delivery: held
// it until quiet hours end (not an attempt: nothing is logged and its attempt count is given
// back), skipped it over a cap or limit (logged as Skipped), or, if the Store failed, logged the attempt
// as failed and scheduled a retry.
//
// The caller must call done once the attempt is recorded, whatever ok is: a delivery checked
// against caps or a limit holds its user's lock until then, so that this Sender checks and sends one
// delivery to a user at a time and each check counts the sends before it.
func (s *Sender) admit(ctx context.Context, j *Job, a *Attempt, au *attemptUser) (done func(), ok bool) {
	done = func() {}
	cm, err := s.compiled(ctx, j.MessageID, j.MessageVersion)
	if err != nil {
		return done, true // rendering reports it; a rendered retry does not need the message
	}
	d := &cm.msg.Delivery
	a.IgnoreCaps = d.IgnoreCaps
	if s.quiet != (QuietHours{}) && !d.IgnoreQuietHours {
		u, err := au.get(ctx)
		if err != nil {
			s.refuse(ctx, j, a, err)
			return done, false
		}
		if end, ok := s.quiet.until(a.Time.In(s.location(u))); ok {
			s.putOff(ctx, j, end)
			s.log.LogAttrs(ctx, slog.LevelDebug, "webhook: delivery held for quiet hours",
				slog.String("delivery_id", j.ID), slog.String("user_id", j.UserID), slog.Time("until", end))
			return done, false
		}
	}
	return s.limit(ctx, j, a, d)
}

// limit applies Config.Caps and d.Limit to the first attempt a of a delivery of a message
// with Delivery d, as admit does.
func (s *Sender) limit(ctx context.Context, j *Job, a *Attempt, d *Delivery) (done func(), ok bool) {
	type window struct {
		Cap
		messageID string // the message counted, or "" for all but the exempt
	}
	var windows []window
	if !d.IgnoreCaps {
		for _, c := range s.caps {
			windows = append(windows, window{c, ""})
		}
	}
	if d.Limit != (Cap{}) {
		windows = append(windows, window{d.Limit, j.MessageID})
	}
	if len(windows) == 0 || a.Number > 1 {
		return func() {}, true
	}
	done, err := s.capped.lock(ctx, j.UserID)
	if err != nil {
		s.release(j) // the Sender is stopping
		return func() {}, false
	}
	for _, w := range windows {
		n, err := s.store.CountSent(ctx, j.UserID, w.messageID, a.Time.Add(-w.Per))
		if err != nil {
			s.refuse(ctx, j, a, fmt.Errorf("count deliveries for caps: %w", err))
			return done, false
		}
		if n >= w.Max {
			what := "delivery cap"
			if w.messageID != "" {
				what = "message limit"
			}
			a.Outcome, a.Err = Skipped, fmt.Sprintf("%s reached: %d sent in %v, at most %d", what, n, w.Per, w.Max)
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
