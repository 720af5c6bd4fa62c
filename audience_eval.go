package webhook

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// audienceEnv is what evaluating an audience for one user needs.
type audienceEnv struct {
	ctx   context.Context
	store EventStore
	user  *User
	now   time.Time
	// pending are events being triggered, not yet in the Store, which event criteria count
	// as if they were.
	pending []Event
}

// eval reports whether the user is in n.
func (n *audienceNode) eval(env *audienceEnv) (bool, error) {
	for _, c := range n.all {
		if ok, err := c.eval(env); !ok || err != nil {
			return false, err
		}
	}
	if len(n.any) > 0 {
		found := false
		for _, c := range n.any {
			ok, err := c.eval(env)
			if err != nil {
				return false, err
			}
			if ok {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	if n.not != nil {
		if ok, err := n.not.eval(env); ok || err != nil {
			return false, err
		}
	}
	if n.leaf != nil {
		return n.leaf.eval(env)
	}
	return true, nil
}

func (l *compiledCriterion) eval(env *audienceEnv) (bool, error) {
	u := env.user
	if l.subject != subjectEvent {
		return l.matchUser(u, env.now), nil
	}
	q := EventQuery{UserID: u.ID, Names: []string{l.name}, Until: env.now}
	if l.within > 0 {
		q.Since = env.now.Add(-l.within)
	}
	events, err := env.store.Events(env.ctx, q)
	if err != nil {
		return false, opErr(err, "audience: events %q", l.name)
	}
	stored := len(events)
	for _, e := range env.pending {
		// A pending event the Store holds already, a Trigger retried, counts once.
		if e.UserID == u.ID && e.Name == l.name && q.covers(e.Time) &&
			!slices.ContainsFunc(events[:stored], func(s Event) bool { return s.ID == e.ID }) {
			events = append(events, e)
		}
	}
	return l.matchEvents(events, env.now), nil
}

// matchUser reports whether u meets l, a criterion of an attribute, field or bucket, at now.
func (l *compiledCriterion) matchUser(u *User, now time.Time) bool {
	switch l.subject {
	case subjectAttr:
		v, ok := u.Attributes[l.name]
		return l.check.match(v, ok, now)
	case subjectField:
		v, ok := userField(u, l.name)
		return l.check.match(v, ok, now)
	}
	return l.check.match(int64(BucketOf(l.name, u.ID)), true, now)
}

// matchEvents reports whether events, those of the user that l's name and window select,
// meet l, an event criterion, at now.
func (l *compiledCriterion) matchEvents(events []Event, now time.Time) bool {
	var st eventStats
	for i := range events {
		if e := &events[i]; l.where == nil || l.where.matches(e.Params) {
			var v any
			if l.param != "" {
				v = e.Params[l.param]
			}
			st.add(e.Time, v)
		}
	}
	v, ok := st.aggregate(l.agg)
	return l.check.match(v, ok, now)
}

func (c *compiledCondition) matches(m Map) bool {
	v, ok := m[c.key]
	return c.check.match(v, ok, time.Time{})
}

// covers reports whether t is in q's window.
func (q *EventQuery) covers(t time.Time) bool {
	return (q.Since.IsZero() || !t.Before(q.Since)) && (q.Until.IsZero() || !t.After(q.Until))
}

// eventStats describes the events an event criterion selects.
type eventStats struct {
	// count is how many events were selected.
	count int
	// first and last are the earliest and latest time among them; zero if count is 0.
	first, last time.Time
	// numbers counts the selected events whose parameter is a number; sum, min and max are
	// over those values.
	numbers       int
	sum, min, max float64
}

// add counts one more selected event at t whose parameter's value is v (nil if the criterion
// names no parameter, or the event has no such parameter). A number, or a string that spells
// one (see numericString), is summed.
func (st *eventStats) add(t time.Time, v any) {
	if st.count == 0 || t.Before(st.first) {
		st.first = t
	}
	if st.count == 0 || t.After(st.last) {
		st.last = t
	}
	st.count++
	x, ok := subjectOperand(v, kindNumber) // numbers, and strings that spell one
	if !ok {
		return
	}
	f := x.f
	if st.numbers == 0 || f < st.min {
		st.min = f
	}
	if st.numbers == 0 || f > st.max {
		st.max = f
	}
	st.numbers++
	st.sum += f
}

// aggregate returns the value of agg, and whether it is set.
func (st *eventStats) aggregate(agg Aggregate) (any, bool) {
	switch agg {
	case AggSum:
		return st.sum, true
	case AggAvg:
		return st.sum / float64(st.numbers), st.numbers > 0
	case AggMin:
		return st.min, st.numbers > 0
	case AggMax:
		return st.max, st.numbers > 0
	case AggFirst:
		return st.first, st.count > 0
	case AggLast:
		return st.last, st.count > 0
	}
	return int64(st.count), true
}

// userField returns the value of a user field, and whether it is set.
func userField(u *User, name string) (any, bool) {
	var s string
	switch name {
	case "test":
		return u.Test, true
	case "created_at", "last_active":
		t := u.CreatedAt
		if name == "last_active" {
			t = u.LastActive
		}
		return t, !t.IsZero()
	case "id":
		s = u.ID
	case "email":
		s = u.Email
	case "country":
		s = u.Country
	case "region":
		s = u.Region
	case "city":
		s = u.City
	case "locale":
		s = u.Locale
	case "language":
		s, _, _ = strings.Cut(u.Locale, "-")
		s, _, _ = strings.Cut(s, "_")
		s = strings.ToLower(s)
	case "time_zone":
		s = u.TimeZone
	}
	return s, s != ""
}

// inAudience reports whether u is in the audience of cm at now, reading events from store.
func (cm *compiledMessage) inAudience(ctx context.Context, store EventStore, u *User, now time.Time) (bool, error) {
	if cm.audience == nil {
		return true, nil
	}
	return cm.audience.eval(&audienceEnv{ctx: ctx, store: store, user: u, now: now})
}

// triggeredBy reports whether the last of events, being triggered, enqueues a job of cm: its
// parameters meet Delivery.Where and its user, u, is in the audience, counting the events
// (which are not saved yet).
func (cm *compiledMessage) triggeredBy(ctx context.Context, store EventStore, events []Event, u *User, now time.Time) (bool, error) {
	e := &events[len(events)-1]
	for _, c := range cm.where {
		if !c.matches(e.Params) {
			return false, nil
		}
	}
	if cm.audience == nil {
		return true, nil
	}
	return cm.audience.eval(&audienceEnv{ctx: ctx, store: store, user: u, now: now, pending: events})
}

// AudienceSize counts the users in the Store that a matches now, for a UI to show before a
// campaign starts. A Store with the [AudienceStore] role counts them in its own query
// language; with another Store, or one that cannot evaluate a, AudienceSize reads every
// user, a page at a time, and the events of each that a's event criteria need. It returns a
// [*ValidationError] if a is invalid, or the Store's error (or ctx's) if reading failed.
func (s *Sender) AudienceSize(ctx context.Context, a Audience) (int, error) {
	if err := s.made(); err != nil {
		return 0, err
	}
	var ps problems
	n := compileAudience(&a, "audience", &ps)
	if err := ps.err("audience"); err != nil {
		return 0, err
	}
	now := s.clock.Now()
	if as, ok := s.store.(AudienceStore); ok {
		count, err := as.CountAudience(ctx, AudienceQuery{Filter: n.filter(now)})
		switch {
		case err == nil:
			return count, nil
		case !errors.Is(err, ErrUnsupportedFilter):
			return 0, opErr(err, "audience size")
		}
	}
	env := &audienceEnv{ctx: ctx, store: s.store, now: now}
	const page = 1000
	count := 0
	for after := ""; ; {
		users, err := s.store.Users(ctx, UserQuery{After: after, Limit: page})
		if err != nil {
			return 0, opErr(err, "audience size")
		}
		for i := range users {
			env.user = &users[i]
			ok, err := n.eval(env)
			if err != nil {
				return 0, err
			}
			if ok {
				count++
			}
		}
		if len(users) < page {
			return count, nil
		}
		after = users[len(users)-1].ID
	}
}
