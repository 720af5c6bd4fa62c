// Package sqlaudience compiles a [webhook.AudienceFilter] to an SQL condition: the tree of
// all, any and not, and the operators in terms of a few comparisons, which a [Dialect]
// writes in its SQL. store/pgstore and store/sqlitestore are its dialects.
package sqlaudience

import (
	"fmt"

	"github.com/hookline/webhook"
)

// Dialect writes the subjects and comparisons of one SQL: S is what it knows of a
// subject. Conditions it returns may be NULL where they do not hold.
type Dialect[S any] interface {
	// Subject returns the subject of a leaf: an attribute, field, bucket or event.
	Subject(f *webhook.AudienceFilter) (S, error)
	// Set returns the condition that s is set.
	Set(s S) string
	// Empty returns the condition that s is not set, or "", [] or {}; for an instant or
	// number subject, Never.
	Empty(s S) string
	// Compare returns the condition that s compares by the SQL operator op (=, <>, <, <=,
	// > or >=) with v.
	Compare(s S, op string, v webhook.FilterValue) (string, error)
	// StartsWith returns the condition that s is a string that starts with prefix.
	StartsWith(s S, prefix string) string
	// IsString and IsList return the conditions that s is a string, and a list.
	IsString(s S) string
	IsList(s S) string
	// ContainsText returns the condition that s, a string, contains text.
	ContainsText(s S, text string) string
	// Elements returns a FROM item of the elements of s, a list, and the subject of one.
	Elements(s S) (from string, element S)
	// Params returns how many parameters the conditions returned so far take.
	Params() int
}

// Unsupported returns an error wrapping webhook.ErrUnsupportedFilter that says what.
func Unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", webhook.ErrUnsupportedFilter, fmt.Sprintf(format, args...))
}

// Always and Never are the conditions true and false in every SQL.
const (
	Always = "(1 = 1)"
	Never  = "(1 = 0)"
)

// MaxParams is how many parameters [Compile] lets the condition of an audience take, about
// one per value compared (two per whole number). Each comparison repeats the expressions
// that read its subject, and past a few hundred the statement costs far more than the
// Sender's evaluation in Go: in PostgreSQL, a list of 300 numbers took 0.2 s to count 20 users, one of
// 1,000 took 24 s, and one of 10,000 (Audience.Validate takes as many) ran for minutes, deaf
// to cancellation; a statement also takes at most 65,535 parameters, and SQLite's at most
// 32,766.
const MaxParams = 500

// Compile returns f as an SQL condition that is never NULL, or an error wrapping
// webhook.ErrUnsupportedFilter, for the Sender to evaluate the audience in Go, if d cannot
// write it or it takes more than MaxParams parameters of d (an OpIn list can hold 10,000
// values).
func Compile[S any](f *webhook.AudienceFilter, d Dialect[S]) (string, error) {
	where, err := compile(f, d)
	if err == nil && d.Params() > MaxParams {
		err = Unsupported("%d values, more than %d", d.Params(), MaxParams)
	}
	return where, err
}

// compile returns f as an SQL condition that is never NULL.
func compile[S any](f *webhook.AudienceFilter, d Dialect[S]) (string, error) {
	switch f.Kind {
	case webhook.FilterAll, webhook.FilterAny:
		if len(f.Parts) == 0 {
			return Always, nil
		}
		parts := make([]string, len(f.Parts))
		for i, p := range f.Parts {
			var err error
			if parts[i], err = compile(p, d); err != nil {
				return "", err
			}
		}
		op := " AND "
		if f.Kind == webhook.FilterAny {
			op = " OR "
		}
		return join(parts, op), nil
	case webhook.FilterNot:
		p, err := compile(f.Parts[0], d)
		return "NOT " + p, err
	}
	s, err := d.Subject(f)
	if err != nil {
		return "", err
	}
	return Test(d, s, f.Test)
}

// join joins conds with the SQL operator op (" AND " or " OR ") as a balanced tree of
// parentheses, so that the expression is nested as deep as the logarithm of their number,
// not their number: SQLite refuses an expression nested more than 1,000 deep, as a chain of
// the comparisons of a long OpIn list is.
func join(conds []string, op string) string {
	if len(conds) == 1 {
		return "(" + conds[0] + ")"
	}
	mid := len(conds) / 2
	return "(" + join(conds[:mid], op) + op + join(conds[mid:], op) + ")"
}

// ops are the SQL operators of the comparisons.
var ops = map[webhook.Op]string{webhook.OpEq: "=", webhook.OpNe: "<>", webhook.OpLt: "<", webhook.OpLte: "<=", webhook.OpGt: ">", webhook.OpGte: ">="}

// Test returns the condition, never NULL, that s passes t.
func Test[S any](d Dialect[S], s S, t webhook.ValueTest) (string, error) {
	var p string
	var err error
	switch t.Op {
	case webhook.OpExists:
		p = d.Set(s)
	case webhook.OpNotExists:
		p = "NOT " + d.Set(s)
	case webhook.OpEmpty:
		p = d.Empty(s)
	case webhook.OpEq, webhook.OpNe, webhook.OpLt, webhook.OpLte, webhook.OpGt, webhook.OpGte:
		p, err = d.Compare(s, ops[t.Op], t.Values[0])
	case webhook.OpBetween:
		var lo, hi string
		if lo, err = d.Compare(s, ">=", t.Values[0]); err == nil {
			hi, err = d.Compare(s, "<=", t.Values[1])
		}
		p = "(" + lo + " AND " + hi + ")"
	case webhook.OpIn:
		parts := make([]string, len(t.Values))
		for i, v := range t.Values {
			if parts[i], err = d.Compare(s, "=", v); err != nil {
				break
			}
		}
		p = join(parts, " OR ")
	case webhook.OpStartsWith:
		p = d.StartsWith(s, t.Values[0].Text)
	case webhook.OpContains, webhook.OpNotContains:
		p, err = contains(d, s, t.Values[0], t.Op == webhook.OpNotContains)
	default:
		err = Unsupported("operator %q", t.Op)
	}
	if err != nil {
		return "", err
	}
	return "coalesce(" + p + ", " + Never + ")", nil
}

// contains returns the condition that s is a string or list that contains v, or, with not,
// a string or list that does not: a string contains the text of a string or instant (and
// nothing else), a list an element equal to v.
func contains[S any](d Dialect[S], s S, v webhook.FilterValue, not bool) (string, error) {
	isString, isList := d.IsString(s), d.IsList(s)
	if isString == Never && isList == Never {
		return Never, nil
	}
	text := Never
	if v.Kind == webhook.ValueString || v.Kind == webhook.ValueInstant {
		text = d.ContainsText(s, v.Text)
	}
	from, element := d.Elements(s)
	eq, err := d.Compare(element, "=", v)
	if err != nil {
		return "", err
	}
	list := "EXISTS (SELECT 1 FROM " + from + " WHERE " + eq + ")"
	neg := ""
	if not {
		neg = "NOT "
	}
	return "CASE WHEN " + isString + " THEN " + neg + "(" + text + ") WHEN " + isList + " THEN " + neg + list + " ELSE " + Never + " END", nil
}

// Number is a number subject in SQL: whether it is whole, its exact value if it is, and
// its value as a float64. Each is NULL if the subject is not a number.
type Number struct {
	Whole, Exact, Float string
}

// Compare returns the condition that n compares by op with v, as the rules of
// webhook.AudienceFilter say: two whole numbers exactly, others as float64. arg adds a
// parameter and returns its placeholder, with a cast if the SQL needs one.
func (n *Number) Compare(op string, v webhook.FilterValue, arg func(any) string) string {
	f := "(" + n.Float + " " + op + " " + arg(v.Float) + ")"
	if !v.Whole || n.Whole == Never {
		return f
	}
	return "CASE WHEN " + n.Whole + " THEN (" + n.Exact + ") " + op + " " + arg(v.Int) + " ELSE " + f + " END"
}
