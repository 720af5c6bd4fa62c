package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Audience selects the users a message goes to: a tree of criteria combined with all-of
// (All), any-of (Any) and not (Not). A node matches a user when every part it has matches:
// each of All, at least one of Any (if Any is not empty), not Not (if set), and its own
// Criterion (if it names an attribute, field, event or bucket). The zero Audience has no
// criteria and matches every user.
//
// Its JSON form is the struct's, with the Criterion's fields inline:
//
//	{"all": [
//	  {"attr": "membership", "op": "eq", "value": "gold"},
//	  {"event": "purchase", "within": "30d", "op": "gte", "value": 2},
//	  {"field": "country", "op": "eq", "value": "DE"},
//	  {"not": {"bucket": "q4-holdout", "op": "lt", "value": 100}}
//	]}
//
// [Audience.Validate] checks an Audience, and [Sender.SaveMessage] refuses a message whose
// Audience is invalid, naming the path of each problem ("audience.all[2].op"). An Audience
// is treated as immutable once given to a Sender.
type Audience struct {
	// All are criteria that must all match.
	All []Audience `json:"all,omitempty"`
	// Any are criteria of which at least one must match, if there are any.
	Any []Audience `json:"any,omitempty"`
	// Not, if set, is a criterion that must not match.
	Not *Audience `json:"not,omitempty"`
	Criterion
}

// Criterion is one comparison of a user: a subject (exactly one of Attr, Field, Event and
// Bucket) compared by Op with Value.
//
// Rules, the same for every subject:
//   - numbers compare as numbers, strings as strings (byte-wise), booleans only for
//     equality, and strings in RFC 3339 form ("2026-11-23T09:00:00Z") as instants, so zones
//     and offsets do not matter;
//   - a subject whose value has another type than Value (the string "10" against the
//     number 9) or that is not set does not match, whatever the operator, except
//     [OpNotExists] and [OpEmpty]; wrap a criterion in Not for its complement;
//   - relative times ([OpWithinLast], [OpOlderThan]) and event windows end at the Sender's
//     Clock time, both ends included: they are durations, not calendar days.
type Criterion struct {
	// Attr names a user attribute (User.Attributes) to compare.
	Attr string `json:"attr,omitempty"`
	// Field names a user field to compare: "id", "email", "test" (a boolean),
	// "country", "region", "city", "locale", "language" (the locale's part before '-' or
	// '_', lower-cased), "time_zone", "created_at" or "last_active" (instants). An empty
	// string field or a zero time is not set.
	Field string `json:"field,omitempty"`
	// Event names an event whose history the user must have: Agg of the user's events of
	// that name Within the last duration (and, if Where is set, whose parameters meet it)
	// is compared with Value. "Did X at least twice in 30 days" is
	// {Event: "X", Within: 30 days, Op: OpGte, Value: 2}; "never did X" is {Event: "X",
	// Op: OpEq, Value: 0}.
	Event string `json:"event,omitempty"`
	// Bucket is a salt: the user falls in bucket [BucketOf](Bucket, user ID), a number
	// from 0 to 999 that is stable for a salt and user, compared with Value. "bucket < 100"
	// is a reproducible 10% sample; the same criterion under Not is its holdout.
	Bucket string `json:"bucket,omitempty"`
	// Agg is what an event criterion compares: AggCount (the default), AggSum, AggAvg,
	// AggMin or AggMax of the number parameter Param, or the time of the first or last
	// event (AggFirst, AggLast). Events whose Param is not a number are left out of sums,
	// averages, minimums and maximums; an average, minimum, maximum, first or last of no
	// events is not set.
	Agg Aggregate `json:"agg,omitempty"`
	// Param is the event parameter that AggSum, AggAvg, AggMin and AggMax aggregate.
	Param string `json:"param,omitempty"`
	// Within is the window of an event criterion: events from Within before now up to now.
	// Zero means the user's whole history. In JSON it is a string such as "30d" or "36h".
	Within Duration `json:"within,omitempty"`
	// Where, if set, counts only events whose parameters meet it.
	Where *Condition `json:"where,omitempty"`
	// Op is the comparison. Required with a subject.
	Op Op `json:"op,omitempty"`
	// Value is what the subject is compared with: a number, string, boolean or RFC 3339
	// time; a list of values for OpIn; a list of two for OpBetween; a duration ("7d",
	// "12h" or a [Duration], which JSON writes as such a string; not a time.Duration,
	// which it writes as a number) for OpWithinLast and OpOlderThan; nothing for
	// OpExists, OpNotExists and OpEmpty. The helpers [Attr], [UserField] and [EventStat]
	// turn a time.Duration into a Duration.
	Value any `json:"value,omitempty"`
}

// Condition compares one value of a map, such as an event parameter, with Value, by the
// rules of [Criterion]. It takes every operator but [OpWithinLast] and [OpOlderThan], so a
// Store can translate it to SQL on one JSON field.
type Condition struct {
	// Key names the value in the map. Required.
	Key string `json:"key"`
	// Op is the comparison. Required.
	Op Op `json:"op"`
	// Value is what the map's value is compared with, as for a Criterion.
	Value any `json:"value,omitempty"`
}

// Op is a comparison operator of a [Criterion] or [Condition].
type Op string

// The operators. "Set" means present and not null.
const (
	OpExists      Op = "exists"       // is set
	OpNotExists   Op = "not_exists"   // is not set
	OpEq          Op = "eq"           // equals Value
	OpNe          Op = "ne"           // is set, of Value's type, and does not equal it
	OpContains    Op = "contains"     // a string containing Value, or a list with an element equal to it
	OpNotContains Op = "not_contains" // a string or list that does not contain Value
	OpStartsWith  Op = "starts_with"  // a string starting with Value
	OpEmpty       Op = "empty"        // not set, or "", [] or {}
	OpGt          Op = "gt"           // greater than Value
	OpLt          Op = "lt"           // less than Value
	OpGte         Op = "gte"          // at least Value
	OpLte         Op = "lte"          // at most Value
	OpBetween     Op = "between"      // from Value[0] to Value[1], both included
	OpIn          Op = "in"           // equal to one of the list Value
	OpBefore      Op = "before"       // an instant before the instant Value
	OpAfter       Op = "after"        // an instant after the instant Value
	OpWithinLast  Op = "within_last"  // an instant from the duration Value ago up to now
	OpOlderThan   Op = "older_than"   // an instant more than the duration Value ago
)

// Aggregate is what an event criterion compares; see [Criterion].Agg.
type Aggregate string

// The aggregates of an event criterion.
const (
	AggCount Aggregate = "count" // the number of events (the default)
	AggSum   Aggregate = "sum"   // the sum of Param
	AggAvg   Aggregate = "avg"   // the average of Param
	AggMin   Aggregate = "min"   // the minimum of Param
	AggMax   Aggregate = "max"   // the maximum of Param
	AggFirst Aggregate = "first" // the time of the earliest event
	AggLast  Aggregate = "last"  // the time of the latest event
)

// Duration is a length of time that reads and writes JSON as a string: a whole number of
// days ("30d") or a Go duration ("36h", "90m").
type Duration time.Duration

const durationDay = 24 * time.Hour

// String returns d as "30d" if it is a whole number of days, else as time.Duration does.
func (d Duration) String() string {
	if d != 0 && time.Duration(d)%durationDay == 0 {
		return strconv.FormatInt(int64(time.Duration(d)/durationDay), 10) + "d"
	}
	return time.Duration(d).String()
}

// MarshalJSON writes d as a string (see [Duration.String]).
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a string such as "30d", "36h" or "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"30d\" or \"12h\"")
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// maxDays bounds durations given in days, so that they fit a time.Duration.
const maxDays = int64(time.Duration(1<<63-1) / durationDay)

func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days > maxDays || days < -maxDays {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days) * durationDay, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// UnmarshalJSON decodes an Audience from its JSON form. Numbers become int64 if they are
// whole and float64 otherwise, as in [Map]; unknown fields are an error, so a misspelt
// criterion is not silently dropped. Input past a limit of [Audience.Validate] on the number
// of criteria, their nesting, or the length or nesting of a value is refused while it is
// read, before anything is built.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if err := scanAudienceJSON(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var raw audienceJSON
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return errors.New("webhook: audience: not a JSON object")
			}
			return fmt.Errorf("webhook: audience: %s: unexpected JSON %s", te.Field, te.Value)
		}
		return fmt.Errorf("webhook: audience: %w", err)
	}
	if dec.More() {
		return errors.New("webhook: audience: data after the JSON value")
	}
	out, err := raw.audience()
	if err != nil {
		return err
	}
	*a = out
	return nil
}

// audienceJSON is the JSON form of an Audience, decoded in one pass.
type audienceJSON struct {
	All []audienceJSON `json:"all"`
	Any []audienceJSON `json:"any"`
	Not *audienceJSON  `json:"not"`
	Criterion
}

func (r *audienceJSON) audience() (Audience, error) {
	a := Audience{Criterion: r.Criterion}
	var err error
	if a.Value, err = normalizeValue(a.Value, 0); err != nil {
		return Audience{}, fmt.Errorf("webhook: audience value: %w", err)
	}
	if a.Where != nil {
		w := *a.Where
		if w.Value, err = normalizeValue(w.Value, 0); err != nil {
			return Audience{}, fmt.Errorf("webhook: audience where value: %w", err)
		}
		a.Where = &w
	}
	for _, list := range []struct {
		from []audienceJSON
		to   *[]Audience
	}{{r.All, &a.All}, {r.Any, &a.Any}} {
		if list.from == nil {
			continue
		}
		*list.to = make([]Audience, len(list.from))
		for i := range list.from {
			if (*list.to)[i], err = list.from[i].audience(); err != nil {
				return Audience{}, err
			}
		}
	}
	if r.Not != nil {
		n, err := r.Not.audience()
		if err != nil {
			return Audience{}, err
		}
		a.Not = &n
	}
	return a, nil
}

// IsZero reports whether a has no criteria, and so matches every user.
func (a Audience) IsZero() bool {
	return len(a.All) == 0 && len(a.Any) == 0 && a.Not == nil && a.Criterion.isZero()
}

func (c *Criterion) isZero() bool {
	return c.Attr == "" && c.Field == "" && c.Event == "" && c.Bucket == "" && c.Agg == "" &&
		c.Param == "" && c.Within == 0 && c.Where == nil && c.Op == "" && c.Value == nil
}

// Validate checks a and returns a [*ValidationError] listing every problem with its path,
// such as "audience.all[2].op", or nil if a is valid.
func (a *Audience) Validate() error {
	var ps problems
	compileAudience(a, "audience", &ps)
	return ps.err("audience")
}

// All returns an Audience matching users that every one of as matches.
func All(as ...Audience) Audience { return Audience{All: as} }

// Any returns an Audience matching users that at least one of as matches.
func Any(as ...Audience) Audience { return Audience{Any: as} }

// Not returns an Audience matching the users a does not match.
func Not(a Audience) Audience { return Audience{Not: &a} }

// Attr returns an Audience comparing the user attribute name with value.
func Attr(name string, op Op, value any) Audience {
	return Audience{Criterion: Criterion{Attr: name, Op: op, Value: durationValue(value)}}
}

// UserField returns an Audience comparing a user field (see [Criterion].Field) with value.
func UserField(field string, op Op, value any) Audience {
	return Audience{Criterion: Criterion{Field: field, Op: op, Value: durationValue(value)}}
}

// Did returns an Audience comparing the number of events the user did with the given name
// in the last within (0 for their whole history) with n: Did("purchase", 30*24*time.Hour,
// OpGte, 2) is "bought at least twice in the last 30 days".
func Did(event string, within time.Duration, op Op, n int) Audience {
	return Audience{Criterion: Criterion{Event: event, Within: Duration(within), Op: op, Value: n}}
}

// NeverDid returns an Audience matching users who never did the named event.
func NeverDid(event string) Audience { return Did(event, 0, OpEq, 0) }

// EventStat returns an Audience comparing an aggregate of the user's events with the given
// name in the last within (0 for their whole history) with value; param is the parameter
// that AggSum, AggAvg, AggMin and AggMax aggregate.
func EventStat(event string, agg Aggregate, param string, within time.Duration, op Op, value any) Audience {
	return Audience{Criterion: Criterion{Event: event, Agg: agg, Param: param, Within: Duration(within), Op: op, Value: durationValue(value)}}
}

// durationValue returns v as a Duration if it is a time.Duration, so that it keeps its
// meaning through JSON, and v otherwise.
func durationValue(v any) any {
	if d, ok := v.(time.Duration); ok {
		return Duration(d)
	}
	return v
}

// InBucket returns an Audience matching users whose bucket under salt (see [BucketOf]) is
// in [from, to): InBucket("spring", 0, 100) is a stable 10% of users.
func InBucket(salt string, from, to int) Audience {
	return Audience{Criterion: Criterion{Bucket: salt, Op: OpBetween, Value: []any{from, to - 1}}}
}

// WhereParam returns a copy of the event criterion a that counts only events whose
// parameter key compares by op with value.
func (a Audience) WhereParam(key string, op Op, value any) Audience {
	a.Criterion.Where = &Condition{Key: key, Op: op, Value: value}
	return a
}

// BucketOf returns the bucket, 0 to 999, of a user under a salt: the first 8 bytes of the
// SHA-256 of salt, a zero byte and userID, read as a big-endian unsigned integer, modulo
// 1000. It is the same in every process, on every platform and in every version.
func BucketOf(salt, userID string) int {
	h := sha256.New()
	h.Write([]byte(salt))
	h.Write([]byte{0})
	h.Write([]byte(userID))
	var sum [sha256.Size]byte
	return int(binary.BigEndian.Uint64(h.Sum(sum[:0])[:8]) % 1000)
}

// Limits on audiences, so that one is bounded in what it can make a Sender do.
const (
	maxAudienceDepth = 16
	maxAudienceNodes = 1000
	maxListValues    = 10000
)

// userFields are the names a Criterion's Field may take.
var userFields = []string{"id", "email", "test", "country", "region", "city", "locale", "language", "time_zone", "created_at", "last_active"}

// Kinds of subject of a criterion.
const (
	subjectAttr = iota + 1
	subjectField
	subjectEvent
	subjectBucket
)

// audienceNode is a compiled Audience.
type audienceNode struct {
	all, any []*audienceNode // in evaluation order: those that need no Store query first
	not      *audienceNode
	leaf     *compiledCriterion
	store    bool // evaluating the node may query the Store
}

// compiledCriterion is a compiled Criterion.
type compiledCriterion struct {
	subject int
	name    string // the attribute, field, event or salt
	agg     Aggregate
	param   string
	within  time.Duration
	where   *compiledCondition
	check   comparison
}

// compileAudience validates a and compiles it, adding problems to ps under path. It
// returns nil if there were problems.
func compileAudience(a *Audience, path string, ps *problems) *audienceNode {
	before := len(*ps)
	nodes := 0
	n := compileNode(a, path, 0, &nodes, ps)
	if len(*ps) > before {
		return nil
	}
	return n
}

func compileNode(a *Audience, path string, depth int, nodes *int, ps *problems) *audienceNode {
	if depth > maxAudienceDepth {
		ps.add(path, "nested more than %d levels deep", maxAudienceDepth)
		return nil
	}
	if *nodes++; *nodes > maxAudienceNodes {
		if *nodes == maxAudienceNodes+1 {
			ps.add(path, "more than %d criteria", maxAudienceNodes)
		}
		return nil
	}
	if depth > 0 && a.IsZero() {
		ps.add(path, "empty criterion")
	}
	n := &audienceNode{}
	for _, list := range []struct {
		name string
		from []Audience
		to   *[]*audienceNode
	}{{"all", a.All, &n.all}, {"any", a.Any, &n.any}} {
		for i := range list.from {
			c := compileNode(&list.from[i], fmt.Sprintf("%s.%s[%d]", path, list.name, i), depth+1, nodes, ps)
			if c != nil {
				*list.to = append(*list.to, c)
				n.store = n.store || c.store
			}
		}
		// Evaluate what needs no Store query first: an all-of or any-of often ends there.
		slices.SortStableFunc(*list.to, func(x, y *audienceNode) int {
			if x.store == y.store {
				return 0
			}
			if y.store {
				return -1
			}
			return 1
		})
	}
	if a.Not != nil {
		if n.not = compileNode(a.Not, path+".not", depth+1, nodes, ps); n.not != nil {
			n.store = n.store || n.not.store
		}
	}
	if n.leaf = compileCriterion(&a.Criterion, path, ps); n.leaf != nil {
		n.store = n.store || n.leaf.subject == subjectEvent
	}
	return n
}

// compileCriterion compiles c, or returns nil if it has no subject or problems.
func compileCriterion(c *Criterion, path string, ps *problems) *compiledCriterion {
	l := &compiledCriterion{}
	var subjects []string
	for _, s := range []struct {
		kind       int
		name, json string
	}{{subjectAttr, c.Attr, "attr"}, {subjectField, c.Field, "field"}, {subjectEvent, c.Event, "event"}, {subjectBucket, c.Bucket, "bucket"}} {
		if s.name != "" {
			l.subject, l.name = s.kind, s.name
			subjects = append(subjects, s.json)
		}
	}
	if len(subjects) > 1 {
		ps.add(path, "has %s; a criterion compares one of attr, field, event and bucket", strings.Join(subjects, " and "))
		return nil
	}
	before := len(*ps)
	if l.subject == subjectEvent {
		compileEventOptions(c, l, path, ps)
	} else {
		for _, f := range eventOptions(c) {
			ps.add(path+"."+f, "only an event criterion has %s", f)
		}
	}
	if len(subjects) == 0 {
		if c.Op != "" || c.Value != nil {
			ps.add(path+".op", "compares nothing: give attr, field, event or bucket")
		}
		return nil
	}
	if l.subject == subjectField && !slices.Contains(userFields, c.Field) {
		ps.add(path+".field", "unknown user field %q; one of %s", c.Field, strings.Join(userFields, ", "))
	}
	if c.Op == "" {
		ps.add(path+".op", "required")
	} else if t, ok := compileComparison(c.Op, c.Value, path, ps); ok {
		l.check = t
		want := l.valueKinds()
		switch {
		case want == 0:
		case slices.Contains([]Op{OpContains, OpNotContains, OpStartsWith, OpEmpty}, c.Op):
			ps.add(path+".op", "%s does not apply to %s", c.Op, l.describe())
		case t.kind&want == 0:
			ps.add(path+".op", "%s cannot be compared %s", l.describe(), t.describe())
		}
	}
	if len(*ps) > before {
		return nil
	}
	return l
}

// eventOptions lists the fields of c that only event criteria may have.
func eventOptions(c *Criterion) []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"agg", c.Agg != ""}, {"param", c.Param != ""}, {"within", c.Within != 0}, {"where", c.Where != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

func compileEventOptions(c *Criterion, l *compiledCriterion, path string, ps *problems) {
	l.agg, l.param, l.within = c.Agg, c.Param, time.Duration(c.Within)
	if l.agg == "" {
		l.agg = AggCount
	}
	switch l.agg {
	case AggSum, AggAvg, AggMin, AggMax:
		if c.Param == "" {
			ps.add(path+".param", "required for agg %s", l.agg)
		}
	case AggCount, AggFirst, AggLast:
		if c.Param != "" {
			ps.add(path+".param", "only sum, avg, min and max aggregate a param")
		}
	default:
		ps.add(path+".agg", "unknown aggregate %q; one of count, sum, avg, min, max, first, last", c.Agg)
	}
	if c.Within < 0 {
		ps.add(path+".within", "must not be negative")
	}
	if c.Where != nil {
		l.where = compileCondition(c.Where, path+".where", ps)
	}
}

// valueKinds returns the kinds of value l's subject can have, or 0 for any.
func (l *compiledCriterion) valueKinds() valueKind {
	switch {
	case l.subject == subjectBucket:
		return kindNumber
	case l.subject != subjectEvent:
		return 0
	case l.agg == AggFirst || l.agg == AggLast:
		return kindTime | kindDuration | kindNone
	}
	return kindNumber | kindNone
}

func (l *compiledCriterion) describe() string {
	switch l.subject {
	case subjectBucket:
		return "a bucket (a number)"
	case subjectEvent:
		if l.agg == AggFirst || l.agg == AggLast {
			return "the time of an event's " + string(l.agg) + " occurrence"
		}
		return "an event " + string(l.agg) + " (a number)"
	}
	return "this subject"
}

// compiledCondition is a compiled Condition.
type compiledCondition struct {
	key   string
	check comparison
}

// compileCondition validates c and compiles it, or returns nil if it has problems.
func compileCondition(c *Condition, path string, ps *problems) *compiledCondition {
	before := len(*ps)
	if c.Key == "" {
		ps.add(path+".key", "required")
	}
	var t comparison
	switch c.Op {
	case "":
		ps.add(path+".op", "required")
	case OpWithinLast, OpOlderThan:
		ps.add(path+".op", "%s is not available in a condition", c.Op)
	default:
		t, _ = compileComparison(c.Op, c.Value, path, ps)
	}
	if len(*ps) > before {
		return nil
	}
	return &compiledCondition{key: c.Key, check: t}
}

// Match reports whether m's value at c.Key meets c. A nil Condition matches every Map; an
// invalid one matches nothing.
func (c *Condition) Match(m Map) bool {
	if c == nil {
		return true
	}
	var ps problems
	cc := compileCondition(c, "", &ps)
	return cc != nil && cc.matches(m)
}

// validateConditions checks conditions given as a list at path.
func validateConditions(cs []Condition, path string, ps *problems) []*compiledCondition {
	out := make([]*compiledCondition, 0, len(cs))
	for i := range cs {
		out = append(out, compileCondition(&cs[i], fmt.Sprintf("%s[%d]", path, i), ps))
	}
	return out
}

// valueKind is a set of kinds of value.
type valueKind uint8

const (
	kindNumber valueKind = 1 << iota
	kindString
	kindBool
	kindTime
	kindList
	kindDuration
	kindNone // no value
)

// operand is a compiled Value.
type operand struct {
	kind  valueKind
	isInt bool
	i     int64
	f     float64
	s     string
	b     bool
	t     time.Time
}

// comparison is a compiled operator and value.
type comparison struct {
	op   Op
	kind valueKind // of the value
	x, y operand   // the value, and between's upper bound
	list []operand // in's values
	d    time.Duration
}

func (t *comparison) describe() string {
	switch t.kind {
	case kindString:
		return "with a string"
	case kindBool:
		return "with a boolean"
	case kindTime:
		return "with an instant"
	case kindDuration:
		return "with a duration"
	case kindNone:
		return "by " + string(t.op)
	}
	return "with a number"
}

// newOperand compiles a scalar value in the JSON data model.
func newOperand(v any) (operand, bool) {
	switch v := v.(type) {
	case int64:
		return operand{kind: kindNumber, isInt: true, i: v, f: float64(v)}, true
	case float64:
		return operand{kind: kindNumber, f: v}, true
	case bool:
		return operand{kind: kindBool, b: v}, true
	case string:
		if t, ok := parseInstant(v); ok {
			return operand{kind: kindTime, s: v, t: t}, true
		}
		return operand{kind: kindString, s: v}, true
	}
	return operand{}, false
}

// parseInstant parses an RFC 3339 time, quickly rejecting strings that cannot be one.
func parseInstant(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// compileComparison validates op and value for a criterion or condition at path.
func compileComparison(op Op, value any, path string, ps *problems) (comparison, bool) {
	t := comparison{op: op}
	switch v := value.(type) {
	case Duration:
		value = v.String()
	case time.Duration:
		ps.add(path+".value", "a time.Duration is written to JSON as a number; use webhook.Duration(%v)", v)
		return t, false
	}
	value, err := normalizeValue(value, 0)
	if err != nil {
		ps.add(path+".value", "%v", err)
		return t, false
	}
	bad := func(format string, args ...any) (comparison, bool) {
		ps.add(path+".value", format, args...)
		return t, false
	}
	scalar := func() (comparison, bool) {
		x, ok := newOperand(value)
		if !ok {
			return bad("%s takes a number, string, boolean or time, not %s", op, describeValue(value))
		}
		t.x, t.kind = x, x.kind
		return t, true
	}
	switch op {
	case OpExists, OpNotExists, OpEmpty:
		if value != nil {
			return bad("%s takes no value", op)
		}
		t.kind = kindNone
		return t, true
	case OpEq, OpNe, OpContains, OpNotContains:
		return scalar()
	case OpGt, OpLt, OpGte, OpLte, OpBefore, OpAfter, OpStartsWith:
		if _, ok := scalar(); !ok { // scalar sets t.x and t.kind
			return t, false
		}
		switch {
		case t.kind == kindBool:
			return bad("%s cannot compare booleans", op)
		case (op == OpBefore || op == OpAfter) && t.kind != kindTime:
			return bad("%s takes an RFC 3339 time such as \"2026-01-02T15:04:05Z\"", op)
		case op == OpStartsWith && t.kind == kindNumber:
			return bad("starts_with takes a string")
		case op == OpStartsWith:
			t.kind = kindString
		}
		return t, true
	case OpBetween:
		list, ok := value.([]any)
		if !ok || len(list) != 2 {
			return bad("between takes a list of two values, the lowest first")
		}
		x, okx := newOperand(list[0])
		y, oky := newOperand(list[1])
		if !okx || !oky || x.kind != y.kind || x.kind == kindBool {
			return bad("between takes two numbers, strings or times")
		}
		if c, _ := compareOperands(x, y); c > 0 {
			return bad("between's first value is greater than its second")
		}
		t.x, t.y, t.kind = x, y, x.kind
		return t, true
	case OpIn:
		list, ok := value.([]any)
		if !ok || len(list) == 0 {
			return bad("in takes a list of one or more values")
		}
		if len(list) > maxListValues {
			return bad("in takes at most %d values", maxListValues)
		}
		for i, e := range list {
			x, ok := newOperand(e)
			if !ok {
				return bad("in takes numbers, strings, booleans or times, not %s at [%d]", describeValue(e), i)
			}
			t.list = append(t.list, x)
			t.kind |= x.kind
		}
		return t, true
	case OpWithinLast, OpOlderThan:
		s, ok := value.(string)
		if !ok {
			return bad("%s takes a duration such as \"7d\" or \"12h\"", op)
		}
		d, err := parseDuration(s)
		if err != nil {
			return bad("%v", err)
		}
		if d <= 0 {
			return bad("must be positive")
		}
		t.d, t.kind = d, kindDuration
		return t, true
	}
	ps.add(path+".op", "unknown operator %q", op)
	return t, false
}

func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any, Map:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// compareOperands compares two operands of one valueKind; ok is false if they cannot be.
func compareOperands(x, y operand) (c int, ok bool) {
	if x.kind != y.kind {
		return 0, false
	}
	switch x.kind {
	case kindNumber:
		if x.isInt && y.isInt {
			return cmpOrdered(x.i, y.i), true
		}
		return cmpOrdered(x.f, y.f), true
	case kindString:
		return strings.Compare(x.s, y.s), true
	case kindTime:
		return x.t.Compare(y.t), true
	case kindBool:
		if x.b == y.b {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// subjectOperand converts a subject's value to an operand of the valueKind k, or reports that
// it has another type.
func subjectOperand(v any, k valueKind) (operand, bool) {
	switch v := v.(type) {
	case int64:
		return operand{kind: kindNumber, isInt: true, i: v, f: float64(v)}, k == kindNumber
	case int:
		return operand{kind: kindNumber, isInt: true, i: int64(v), f: float64(v)}, k == kindNumber
	case float64:
		return operand{kind: kindNumber, f: v}, k == kindNumber
	case bool:
		return operand{kind: kindBool, b: v}, k == kindBool
	case time.Time:
		return operand{kind: kindTime, t: v}, k == kindTime
	case string:
		switch k {
		case kindString:
			return operand{kind: kindString, s: v}, true
		case kindTime:
			t, ok := parseInstant(v)
			return operand{kind: kindTime, t: t}, ok
		}
	}
	return operand{}, false
}

// match reports whether a subject's value v (present says whether it is set at all) meets
// t at now.
func (t *comparison) match(v any, present bool, now time.Time) bool {
	set := present && v != nil
	switch t.op {
	case OpExists:
		return set
	case OpNotExists:
		return !set
	case OpEmpty:
		switch v := v.(type) {
		case nil:
			return true
		case string:
			return v == ""
		case []any:
			return len(v) == 0
		case map[string]any:
			return len(v) == 0
		case Map:
			return len(v) == 0
		}
		return false
	}
	if !set {
		return false
	}
	switch t.op {
	case OpEq, OpNe, OpGt, OpLt, OpGte, OpLte, OpBefore, OpAfter:
		x, ok := subjectOperand(v, t.kind)
		if !ok {
			return false
		}
		c, _ := compareOperands(x, t.x)
		switch t.op {
		case OpEq:
			return c == 0
		case OpNe:
			return c != 0
		case OpGt, OpAfter:
			return c > 0
		case OpLt, OpBefore:
			return c < 0
		case OpGte:
			return c >= 0
		}
		return c <= 0
	case OpBetween:
		x, ok := subjectOperand(v, t.kind)
		if !ok {
			return false
		}
		lo, _ := compareOperands(x, t.x)
		hi, _ := compareOperands(x, t.y)
		return lo >= 0 && hi <= 0
	case OpIn:
		for _, y := range t.list {
			if x, ok := subjectOperand(v, y.kind); ok {
				if c, _ := compareOperands(x, y); c == 0 {
					return true
				}
			}
		}
		return false
	case OpStartsWith:
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, t.x.s)
	case OpContains, OpNotContains:
		found, ok := t.contains(v)
		return ok && found == (t.op == OpContains)
	case OpWithinLast, OpOlderThan:
		x, ok := subjectOperand(v, kindTime)
		if !ok {
			return false
		}
		since := now.Add(-t.d)
		if t.op == OpOlderThan {
			return x.t.Before(since)
		}
		return !x.t.Before(since) && !x.t.After(now)
	}
	return false
}

// contains reports whether v, a string or list, contains t's value; ok is false if v is
// neither.
func (t *comparison) contains(v any) (found, ok bool) {
	switch v := v.(type) {
	case string:
		if t.kind != kindString && t.kind != kindTime {
			return false, true
		}
		return strings.Contains(v, t.x.s), true
	case []any:
		for _, e := range v {
			if x, ok := subjectOperand(e, t.kind); ok {
				if c, _ := compareOperands(x, t.x); c == 0 {
					return true, true
				}
			}
		}
		return false, true
	}
	return false, false
}

// audienceEnv is what evaluating an audience for one user needs.
type audienceEnv struct {
	ctx   context.Context
	store EventStore
	user  *User
	now   time.Time
	// pending is an event being triggered, not yet in the Store, which event criteria
	// count as if it were.
	pending *Event
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
	switch l.subject {
	case subjectAttr:
		v, ok := u.Attributes[l.name]
		return l.check.match(v, ok, env.now), nil
	case subjectField:
		v, ok := userField(u, l.name)
		return l.check.match(v, ok, env.now), nil
	case subjectBucket:
		return l.check.match(int64(BucketOf(l.name, u.ID)), true, env.now), nil
	}
	q := EventQuery{UserID: u.ID, Names: []string{l.name}, Until: env.now}
	if l.within > 0 {
		q.Since = env.now.Add(-l.within)
	}
	events, err := env.store.Events(env.ctx, q)
	if err != nil {
		return false, fmt.Errorf("webhook: audience: events %q: %w", l.name, err)
	}
	if e := env.pending; e != nil && e.UserID == u.ID && e.Name == l.name && q.covers(e.Time) {
		events = append(events, *e)
	}
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
	return l.check.match(v, ok, env.now), nil
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
// names no parameter, or the event has no such parameter).
func (st *eventStats) add(t time.Time, v any) {
	if st.count == 0 || t.Before(st.first) {
		st.first = t
	}
	if st.count == 0 || t.After(st.last) {
		st.last = t
	}
	st.count++
	var f float64
	switch v := v.(type) {
	case int64:
		f = float64(v)
	case float64:
		f = v
	default:
		return
	}
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

// compileTargeting checks and compiles a message's Delivery.Where and Audience (nil for an
// empty Audience).
func compileTargeting(m *Message, ps *problems) (where []*compiledCondition, audience *audienceNode) {
	if len(m.Delivery.Where) > 0 && m.Delivery.kind() != Triggered {
		ps.add("delivery.where", "only a triggered message filters its event's parameters")
	}
	where = validateConditions(m.Delivery.Where, "delivery.where", ps)
	audience = compileAudience(&m.Audience, "audience", ps)
	if m.Audience.IsZero() {
		audience = nil
	}
	return where, audience
}

// inAudience reports whether u is in the audience of cm at now, reading events from store.
func (cm *compiledMessage) inAudience(ctx context.Context, store EventStore, u *User, now time.Time) (bool, error) {
	if cm.audience == nil {
		return true, nil
	}
	return cm.audience.eval(&audienceEnv{ctx: ctx, store: store, user: u, now: now})
}

// triggeredBy reports whether the event e, being triggered, enqueues a job of cm: its
// parameters meet Delivery.Where and its user, u, is in the audience, counting e itself.
func (cm *compiledMessage) triggeredBy(ctx context.Context, store EventStore, e *Event, u *User, now time.Time) (bool, error) {
	for _, c := range cm.where {
		if !c.matches(e.Params) {
			return false, nil
		}
	}
	if cm.audience == nil {
		return true, nil
	}
	return cm.audience.eval(&audienceEnv{ctx: ctx, store: store, user: u, now: now, pending: e})
}

// AudienceSize counts the users in the Store that a matches now, for a UI to show before a
// campaign starts. It reads every user, a page at a time, and returns a [*ValidationError]
// if a is invalid, or the Store's error (or ctx's) if reading failed.
func (s *Sender) AudienceSize(ctx context.Context, a Audience) (int, error) {
	if err := s.made(); err != nil {
		return 0, err
	}
	var ps problems
	n := compileAudience(&a, "audience", &ps)
	if err := ps.err("audience"); err != nil {
		return 0, err
	}
	env := &audienceEnv{ctx: ctx, store: s.store, now: s.clock.Now()}
	const page = 1000
	count := 0
	for after := ""; ; {
		users, err := s.store.Users(ctx, UserQuery{After: after, Limit: page})
		if err != nil {
			return 0, fmt.Errorf("webhook: audience size: %w", err)
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
