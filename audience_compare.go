package webhook

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

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

// parseInstant parses an RFC 3339 time, quickly rejecting strings that cannot be one. The
// hour has two digits, as RFC 3339 says (time.Parse would take one).
func parseInstant(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[13] != ':' || s[0] < '0' || s[0] > '9' {
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
		case kindNumber:
			return numericString(v)
		}
	}
	return operand{}, false
}

// numericString returns the number a string spells the way JSON writes numbers ("36",
// "-2.5", "1e3"; not " 36", "+36", "0x24" or "36 years"), with an exponent of at most 3
// digits, which compares with a number as that number: values that arrive as strings, as
// many apps send them, still match numeric criteria. The exponent's limit lets a Store
// parse such a string as a decimal without overflow (see AudienceFilter).
func numericString(s string) (operand, bool) {
	if !isJSONNumber(s) {
		return operand{}, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return operand{kind: kindNumber, isInt: true, i: i, f: float64(i)}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return operand{}, false
	}
	return operand{kind: kindNumber, f: f}, true
}

// isJSONNumber reports whether s is a number as JSON writes one, with an exponent of at
// most 3 digits: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]{1,3})?
func isJSONNumber(s string) bool {
	digits := func(i int) int { // the index after the digits from i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i
	}
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch j := digits(i); {
	case j == i, s[i] == '0' && j > i+1:
		return false
	default:
		i = j
	}
	if i < len(s) && s[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i || j > i+3 {
			return false
		}
		i = j
	}
	return i == len(s)
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
