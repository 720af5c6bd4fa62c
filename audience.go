package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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
// Rules, the same for every subject and in every Store, since the Sender applies them:
//
//	Value       subject            compared
//	number      number             as numbers
//	number      "36", "-2.5", "1e3" as numbers: a string that spells a number as JSON writes one
//	number      " 36", "+36", "0x24", "36 years", "1e0001" never matches
//	string      string             byte-wise
//	RFC 3339    RFC 3339 string    as instants, so zones and offsets do not matter
//	boolean     boolean            only for equality
//	any         another type, or not set   never matches (but [OpNotExists], [OpEmpty])
//
// Wrap a criterion in Not for its complement. Event aggregates (sum, avg, min, max) count the
// parameters that are numbers or numeric strings. Relative times ([OpWithinLast],
// [OpOlderThan]) and event windows end at the Sender's Clock time, both ends included: they
// are durations, not calendar days.
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
	// event (AggFirst, AggLast). Events whose Param is neither a number nor a numeric
	// string are left out of sums, averages, minimums and maximums; an average, minimum,
	// maximum, first or last of no events is not set.
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
		return opErr(err, "audience")
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
		return Audience{}, opErr(err, "audience value")
	}
	if a.Where != nil {
		w := *a.Where
		if w.Value, err = normalizeValue(w.Value, 0); err != nil {
			return Audience{}, opErr(err, "audience where value")
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
