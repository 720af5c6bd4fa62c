package webhook

import (
	"context"
	"errors"
	"time"
)

// AudienceStore is an optional role of a Store: evaluating an audience in the Store's own
// query language, so that [Sender.AudienceSize] and a campaign's fan-out read only the users
// in the audience, not every user and then each one's events. The Sender gives it an
// [AudienceFilter], the audience compiled at a time, whose doc states every rule a Store
// must follow; a Store that cannot compile a filter returns an error wrapping
// [ErrUnsupportedFilter], and the Sender then evaluates that audience itself, as it does
// for a Store without the role. sqlitestore and pgstore implement it; memstore does not
// (evaluating in Go is what it would do).
type AudienceStore interface {
	// CountAudience returns how many users q.Filter matches. q.After and q.Limit are
	// ignored.
	CountAudience(ctx context.Context, q AudienceQuery) (int, error)
	// AudienceUsers returns up to q.Limit users that q.Filter matches, whose IDs sort
	// after q.After, in ID order (byte-wise), as [UserStore.Users] pages: a page shorter
	// than q.Limit is the last.
	AudienceUsers(ctx context.Context, q AudienceQuery) ([]User, error)
}

// ErrUnsupportedFilter is wrapped by the error an [AudienceStore] returns for a filter it
// cannot evaluate; the Sender then evaluates the audience in Go.
var ErrUnsupportedFilter = errors.New("webhook: audience filter not supported by the store")

// AudienceQuery are the parameters of [AudienceStore.CountAudience] and
// [AudienceStore.AudienceUsers].
type AudienceQuery struct {
	// Filter is the audience, from [Audience.Filter].
	Filter *AudienceFilter
	// After and Limit select a page of the users in the audience, in ID order.
	After string
	Limit int
}

// FilterKind is the kind of an [AudienceFilter] node.
type FilterKind uint8

// The kinds of AudienceFilter node.
const (
	// FilterAll matches when every one of Parts matches (every user, if it has none).
	FilterAll FilterKind = iota + 1
	// FilterAny matches when at least one of Parts matches.
	FilterAny
	// FilterNot matches when Parts[0] does not.
	FilterNot
	// FilterAttr tests the user attribute Name.
	FilterAttr
	// FilterField tests the user field Name (see [Criterion].Field).
	FilterField
	// FilterEvent tests an aggregate of the user's events named Name.
	FilterEvent
	// FilterBucket tests the user's bucket under the salt Name, [BucketOf](Name, user ID).
	FilterBucket
)

// AudienceFilter is an [Audience] compiled at a time, in a form a Store can translate into
// its query language: a tree of FilterAll, FilterAny and FilterNot nodes over tests of one
// subject each. It is what an [AudienceStore] evaluates, and [AudienceFilter.Match] is its
// meaning in Go, which a Store must reproduce exactly ([storetest] checks that it does, on
// a generated population and many generated audiences). The rules:
//
// Subjects. An attribute or event parameter is a JSON value, or missing (not set). A null
// is not set either. A user field other than "test", "created_at" and "last_active" is a
// string, not set if empty; "language" is the part of the locale before the first '-' or
// '_', lower-cased. "test" is a boolean, always set. "created_at" and "last_active" are
// instants, not set if zero; an instant subject matches only tests with instant values,
// [OpExists] and [OpNotExists] (never [OpEmpty]). A bucket is a whole number, always set.
//
// Events. A FilterEvent selects the user's events named Name whose Time is from Since (no
// bound if zero) to Until, both included, and, if Where is set, whose parameter
// Where.Key passes Where.Test. Agg is then: the number of events selected (a whole number,
// always set; AggCount); the sum of Param over the selected events whose Param is a number
// (AggSum: 0 if none; a Store may add in any order); the average, minimum or maximum of
// those (not set if none); the Time of the earliest or latest event selected (an instant,
// not set if none). Sums, averages, minimums and maximums are not whole numbers, even
// when their value is whole (see Numbers). NoEvents says whether a user who has no
// selected event matches: a Store may use it to choose between a semi-join and an
// anti-join.
//
// Numbers. A JSON number is a number; so is a string that spells a number exactly as JSON
// writes one, with an exponent of at most 3 digits, and that float64 can hold ("36", "-2.5",
// "1e3"; not " 36", "+36", "0x24", ".5", "36 years", "1e0001" or "1e400"). A number is whole if it is written
// with no fraction and no exponent and fits an int64, or if it is a JSON number (not a
// string) whose value is whole and below 2^53 in magnitude. Two whole numbers compare
// exactly; otherwise both compare as float64.
//
// Strings compare byte-wise. An instant is a string that Go's time.Parse reads with
// time.RFC3339 with a two-digit hour (a fraction after '.' or ','; offset hours up to 24,
// minutes up to 60), or a time; instants compare as instants, to the nanosecond (a string
// may spell more digits than a Store keeps in its times). Booleans are only equal or not.
//
// Tests. A [ValueTest] on a subject, where "set" means present and not null:
//   - OpExists: set; OpNotExists: not set; OpEmpty: not set, or "", [] or {}.
//   - OpEq, OpNe, OpLt, OpLte, OpGt, OpGte with one value: the subject is set and of the
//     value's kind (a number or a numeric string for a number; a string for a string; an
//     instant for an instant; a boolean for a boolean), and compares so; otherwise it does
//     not match (OpNe included).
//   - OpBetween with two values of one kind: at least the first and at most the second.
//   - OpIn: equal, as OpEq, to at least one of the values.
//   - OpStartsWith with a string: a string subject starting with it.
//   - OpContains and OpNotContains with one value: for a string subject, whether it
//     contains the value's text (a value that is not a string or instant: contains
//     nothing); for a list subject, whether one of its elements equals the value as OpEq
//     says. Any other subject, or one not set, matches neither.
//
// A filter is read-only; Stores must not change it.
type AudienceFilter struct {
	// Kind is what the node is: FilterAll, FilterAny or FilterNot over Parts, or a leaf.
	Kind FilterKind
	// Parts are the operands of FilterAll and FilterAny, and the one of FilterNot.
	Parts []*AudienceFilter
	// Name is the attribute, field, event name or salt that a leaf tests.
	Name string
	// Test is the test of the subject.
	Test ValueTest
	// Agg is what a FilterEvent aggregates, of the parameter Param for AggSum, AggAvg,
	// AggMin and AggMax.
	Agg   Aggregate
	Param string
	// Since and Until bound the times of the events a FilterEvent selects, both included;
	// a zero Since is no bound. Until is the time the filter was compiled at.
	Since, Until time.Time
	// Where, if not nil, selects only the events whose parameter passes it.
	Where *ParamTest
	// NoEvents reports whether a FilterEvent matches a user with no selected events.
	NoEvents bool

	leaf *compiledCriterion // a leaf, compiled
	now  time.Time
}

// ParamTest is the test of one event parameter in a FilterEvent.
type ParamTest struct {
	// Key names the parameter.
	Key string
	// Test is what the parameter must pass.
	Test ValueTest
}

// ValueTest is an operator and its values. Op is one of OpExists, OpNotExists, OpEmpty
// (no values), OpEq, OpNe, OpLt, OpLte, OpGt, OpGte, OpStartsWith, OpContains,
// OpNotContains (one value), OpBetween (two) or OpIn (one or more): OpBefore and OpAfter
// become OpLt and OpGt, OpWithinLast d becomes OpBetween now-d and now, and OpOlderThan d
// becomes OpLt now-d.
type ValueTest struct {
	// Op is the operator.
	Op Op
	// Values are its values.
	Values []FilterValue
}

// ValueKind is the kind of a [FilterValue].
type ValueKind uint8

// The kinds of FilterValue.
const (
	ValueNumber  ValueKind = iota + 1 // a number: Whole, Int and Float
	ValueString                       // a string: Text
	ValueBool                         // a boolean: Bool
	ValueInstant                      // an instant: Time, and Text as written
)

// FilterValue is a value in a [ValueTest].
type FilterValue struct {
	// Kind says which of the fields below hold the value.
	Kind ValueKind
	// Whole reports whether a number is whole; Int is then its value. Float is the value of
	// every number.
	Whole bool
	Int   int64
	Float float64
	// Text is a string, or an instant as it was written.
	Text string
	// Bool is a boolean.
	Bool bool
	// Time is an instant.
	Time time.Time
}

// Filter compiles a at now into an AudienceFilter, or returns a [*ValidationError] if a is
// invalid.
func (a *Audience) Filter(now time.Time) (*AudienceFilter, error) {
	var ps problems
	n := compileAudience(a, "audience", &ps)
	if err := ps.err("audience"); err != nil {
		return nil, err
	}
	return n.filter(now), nil
}

// filter returns n as an AudienceFilter at now.
func (n *audienceNode) filter(now time.Time) *AudienceFilter {
	var parts []*AudienceFilter
	for _, c := range n.all {
		parts = append(parts, c.filter(now))
	}
	if len(n.any) > 0 {
		or := &AudienceFilter{Kind: FilterAny}
		for _, c := range n.any {
			or.Parts = append(or.Parts, c.filter(now))
		}
		parts = append(parts, or)
	}
	if n.not != nil {
		parts = append(parts, &AudienceFilter{Kind: FilterNot, Parts: []*AudienceFilter{n.not.filter(now)}})
	}
	if n.leaf != nil {
		parts = append(parts, n.leaf.filter(now))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return &AudienceFilter{Kind: FilterAll, Parts: parts}
}

func (l *compiledCriterion) filter(now time.Time) *AudienceFilter {
	f := &AudienceFilter{Name: l.name, Test: l.check.test(now), leaf: l, now: now}
	switch l.subject {
	case subjectAttr:
		f.Kind = FilterAttr
	case subjectField:
		f.Kind = FilterField
	case subjectBucket:
		f.Kind = FilterBucket
	case subjectEvent:
		f.Kind, f.Agg, f.Param, f.Until = FilterEvent, l.agg, l.param, now
		if l.within > 0 {
			f.Since = now.Add(-l.within)
		}
		if l.where != nil {
			f.Where = &ParamTest{Key: l.where.key, Test: l.where.check.test(now)}
		}
		f.NoEvents = l.matchEvents(nil, now)
	}
	return f
}

// test returns t as a ValueTest at now.
func (t *comparison) test(now time.Time) ValueTest {
	v := ValueTest{Op: t.op}
	switch t.op {
	case OpExists, OpNotExists, OpEmpty:
		return v
	case OpBefore:
		v.Op = OpLt
	case OpAfter:
		v.Op = OpGt
	case OpWithinLast:
		return ValueTest{Op: OpBetween, Values: []FilterValue{instantValue(now.Add(-t.d)), instantValue(now)}}
	case OpOlderThan:
		return ValueTest{Op: OpLt, Values: []FilterValue{instantValue(now.Add(-t.d))}}
	case OpIn:
		for _, x := range t.list {
			v.Values = append(v.Values, x.value())
		}
		return v
	case OpBetween:
		v.Values = []FilterValue{t.x.value(), t.y.value()}
		return v
	}
	v.Values = []FilterValue{t.x.value()}
	return v
}

func instantValue(t time.Time) FilterValue {
	return FilterValue{Kind: ValueInstant, Text: t.Format(time.RFC3339Nano), Time: t}
}

// value returns x as a FilterValue.
func (x *operand) value() FilterValue {
	switch x.kind {
	case kindNumber:
		return FilterValue{Kind: ValueNumber, Whole: x.isInt, Int: x.i, Float: x.f}
	case kindBool:
		return FilterValue{Kind: ValueBool, Bool: x.b}
	case kindTime:
		return FilterValue{Kind: ValueInstant, Text: x.s, Time: x.t}
	}
	return FilterValue{Kind: ValueString, Text: x.s}
}

// Match reports whether the user u, whose events are events, is in f: it is the Go
// evaluator that the Sender uses, for Store adapters and their tests. events may hold any
// of the user's events, of any name and time; Match selects those each criterion counts.
// f must come from [Audience.Filter].
func (f *AudienceFilter) Match(u *User, events []Event) bool {
	switch f.Kind {
	case FilterAll:
		for _, p := range f.Parts {
			if !p.Match(u, events) {
				return false
			}
		}
		return true
	case FilterAny:
		for _, p := range f.Parts {
			if p.Match(u, events) {
				return true
			}
		}
		return false
	case FilterNot:
		return !f.Parts[0].Match(u, events)
	case FilterEvent:
		window := EventQuery{Since: f.Since, Until: f.Until}
		var selected []Event
		for _, e := range events {
			if e.UserID == u.ID && e.Name == f.Name && window.covers(e.Time) {
				selected = append(selected, e)
			}
		}
		return f.leaf.matchEvents(selected, f.now)
	}
	return f.leaf.matchUser(u, f.now)
}
