package sqlitestore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookline/webhook"
)

var _ webhook.AudienceStore = (*Store)(nil)

// CountAudience implements [webhook.AudienceStore] in one statement over the users, each
// event criterion a correlated aggregate of the user's events by the index on (user_id,
// name, time). It refuses with [webhook.ErrUnsupportedFilter] buckets (SQLite has no
// SHA-256) and instants read from JSON strings (attributes, parameters, "created_at" and
// "last_active"), which the Sender then evaluates in Go.
func (s *Store) CountAudience(ctx context.Context, q webhook.AudienceQuery) (int, error) {
	var c audienceSQL
	where, err := c.filter(q.Filter)
	if err != nil {
		return 0, wrap("count audience", err)
	}
	var n int
	err = s.readValues(ctx, `SELECT count(*) FROM webhook_users u WHERE `+where, c.args, &n)
	return n, wrap("count audience", err)
}

// AudienceUsers implements [webhook.AudienceStore] as CountAudience does, a page at a
// time.
func (s *Store) AudienceUsers(ctx context.Context, q webhook.AudienceQuery) ([]webhook.User, error) {
	var c audienceSQL
	where, err := c.filter(q.Filter)
	if err != nil {
		return nil, wrap("audience users", err)
	}
	after, limit := c.add(q.After), c.add(max(q.Limit, 0))
	rows, err := s.read(ctx, `SELECT data FROM webhook_users u WHERE u.id > `+after+` AND `+where+` ORDER BY u.id LIMIT `+limit, c.args...)
	if err != nil {
		return nil, wrap("audience users", err)
	}
	users, err := collect(nil, rows, document[webhook.User])
	return users, wrap("audience users", err)
}

// audienceSQL compiles an AudienceFilter to a condition on webhook_users u, following the
// rules of [webhook.AudienceFilter]. Every value is a bound parameter, numbered.
type audienceSQL struct {
	args []any
}

// add appends v and returns its placeholder, such as "?3".
func (c *audienceSQL) add(v any) string {
	c.args = append(c.args, v)
	return "?" + strconv.Itoa(len(c.args))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", webhook.ErrUnsupportedFilter, fmt.Sprintf(format, args...))
}

// filter returns f as an SQL condition that is never NULL.
func (c *audienceSQL) filter(f *webhook.AudienceFilter) (string, error) {
	switch f.Kind {
	case webhook.FilterAll, webhook.FilterAny:
		if len(f.Parts) == 0 {
			return "1", nil
		}
		parts := make([]string, len(f.Parts))
		for i, p := range f.Parts {
			var err error
			if parts[i], err = c.filter(p); err != nil {
				return "", err
			}
		}
		op := " AND "
		if f.Kind == webhook.FilterAny {
			op = " OR "
		}
		return "(" + strings.Join(parts, op) + ")", nil
	case webhook.FilterNot:
		p, err := c.filter(f.Parts[0])
		return "NOT " + p, err
	}
	var sub subject
	var err error
	switch f.Kind {
	case webhook.FilterAttr:
		sub, err = c.jsonAt("u.data", "attributes", f.Name)
	case webhook.FilterField:
		sub, err = c.field(f.Name)
	case webhook.FilterEvent:
		sub, err = c.event(f)
	default:
		err = unsupported("filter kind %d", f.Kind)
	}
	if err != nil {
		return "", err
	}
	p, err := c.test(sub, f.Test)
	return "coalesce(" + p + ", 0)", err
}

// jsonAt returns the subject at the key of the JSON document doc, under the key parent if
// it is not empty.
func (c *audienceSQL) jsonAt(doc, parent, key string) (subject, error) {
	if strings.Contains(key, `"`) {
		return subject{}, unsupported("a key with a double quote: %q", key)
	}
	path := `$.`
	if parent != "" {
		path += parent + "."
	}
	p := c.add(path + `"` + key + `"`)
	return subject{typ: "json_type(" + doc + ", " + p + ")", val: "json_extract(" + doc + ", " + p + ")"}, nil
}

// field returns the subject of a user field.
func (c *audienceSQL) field(name string) (subject, error) {
	switch name {
	case "test":
		b := "coalesce(json_extract(u.data, '$.test'), 0)"
		return subject{typ: "CASE " + b + " WHEN 1 THEN 'true' ELSE 'false' END", val: b}, nil
	case "language":
		l := "coalesce(json_extract(u.data, '$.locale'), '')"
		l = "substr(" + l + ", 1, instr(" + l + " || '-', '-') - 1)"
		l = "substr(" + l + ", 1, instr(" + l + " || '_', '_') - 1)"
		return textSubject("nullif(lower(" + l + "), '')"), nil
	case "id", "email", "country", "region", "city", "locale", "time_zone":
		return textSubject("nullif(json_extract(u.data, '$." + name + "'), '')"), nil
	}
	return subject{}, unsupported("user field %q", name)
}

// event returns the subject of an event criterion: a correlated aggregate of the user's
// events.
func (c *audienceSQL) event(f *webhook.AudienceFilter) (subject, error) {
	cond := []string{"e.user_id = u.id", "e.name = " + c.add(f.Name), "e.time <= " + c.add(instant(f.Until))}
	if !f.Since.IsZero() {
		cond = append(cond, "e.time >= "+c.add(instant(f.Since)))
	}
	if f.Where != nil {
		sub, err := c.jsonAt("e.params", "", f.Where.Key)
		if err != nil {
			return subject{}, err
		}
		p, err := c.test(sub, f.Where.Test)
		if err != nil {
			return subject{}, err
		}
		cond = append(cond, "coalesce("+p+", 0)")
	}
	agg := func(fn string) string {
		return "(SELECT " + fn + " FROM webhook_events e WHERE " + strings.Join(cond, " AND ") + ")"
	}
	param := func(fn string) (string, error) {
		sub, err := c.jsonAt("e.params", "", f.Param)
		return agg(fn + "(" + numberOf(sub).float + ")"), err
	}
	switch f.Agg {
	case webhook.AggCount:
		a := agg("count(*)")
		return subject{num: &number{whole: "1", exact: a, float: a}, set: "1"}, nil
	case webhook.AggSum:
		a, err := param("total")
		return subject{num: &number{whole: "0", float: a}, set: "1"}, err
	case webhook.AggAvg, webhook.AggMin, webhook.AggMax:
		a, err := param(string(f.Agg))
		return subject{num: &number{whole: "0", float: "CAST(" + a + " AS REAL)"}, set: a + " IS NOT NULL"}, err
	case webhook.AggFirst, webhook.AggLast:
		fn := "min"
		if f.Agg == webhook.AggLast {
			fn = "max"
		}
		a := agg(fn + "(e.time)")
		return subject{instant: a, set: a + " IS NOT NULL"}, nil
	}
	return subject{}, unsupported("aggregate %q", f.Agg)
}

// subject is what a test compares: a JSON value, by its json_type (NULL if missing) and
// json_extract; an instant in nanoseconds; or a number.
type subject struct {
	typ, val string
	instant  string
	num      *number
	set      string // whether an instant or number is set
}

// number is a number subject: whether it is whole, its exact value if it is, and its value
// as a REAL. Each is NULL if the subject is not a number.
type number struct {
	whole, exact, float string
}

// textSubject returns the subject of the string t, not set if NULL.
func textSubject(t string) subject {
	return subject{typ: "CASE WHEN " + t + " IS NOT NULL THEN 'text' END", val: t}
}

// maxFloat is the least magnitude that float64 parsing rounds to infinity.
const maxFloat = `1.797693134862315807937e308`

// numberOf returns the number of the JSON subject sub: a number, or a string that spells
// one as JSON writes it (canonical JSON, only the characters of a number, and an exponent
// of at most 3 digits) and does not overflow a float64.
func numberOf(sub subject) *number {
	v := sub.val
	isNum := "CASE WHEN json_valid(" + v + ") THEN json_type(" + v + ") IN ('integer', 'real') AND " + v + ` NOT GLOB '*[^-.0-9eE]*' AND ` +
		v + ` NOT GLOB '*[eE]*[0-9][0-9][0-9][0-9]*' AND abs(CAST(` + v + ` AS REAL)) < ` + maxFloat + " END"
	str := "CASE WHEN " + sub.typ + " = 'text' THEN CASE WHEN " + isNum + " THEN "
	return &number{
		whole: "CASE " + sub.typ + " WHEN 'integer' THEN 1 WHEN 'real' THEN 0 WHEN 'text' THEN CASE WHEN " + isNum + " THEN json_type(" + v + ") = 'integer' END END",
		exact: "CASE " + sub.typ + " WHEN 'integer' THEN " + v + " ELSE " + str + "CAST(" + v + " AS INTEGER) END END END",
		float: "CASE WHEN " + sub.typ + " IN ('integer', 'real') THEN CAST(" + v + " AS REAL) ELSE " + str + "CAST(" + v + " AS REAL) END END END",
	}
}

// sqlOps are the SQL operators of the comparisons.
var sqlOps = map[webhook.Op]string{webhook.OpEq: "=", webhook.OpNe: "<>", webhook.OpLt: "<", webhook.OpLte: "<=", webhook.OpGt: ">", webhook.OpGte: ">="}

// test returns the condition that sub passes t; it may be NULL where it does not.
func (c *audienceSQL) test(sub subject, t webhook.ValueTest) (string, error) {
	set := sub.set
	if sub.typ != "" {
		set = "(" + sub.typ + " IS NOT NULL AND " + sub.typ + " <> 'null')"
	}
	switch t.Op {
	case webhook.OpExists:
		return set, nil
	case webhook.OpNotExists:
		return "NOT " + set, nil
	case webhook.OpEmpty:
		if sub.typ == "" {
			return "NOT " + set, nil
		}
		return "(" + sub.typ + " IS NULL OR " + sub.typ + " = 'null' OR (" + sub.typ + " = 'text' AND " + sub.val + " = '') OR (" +
			sub.typ + " IN ('array', 'object') AND " + sub.val + " IN ('[]', '{}')))", nil
	case webhook.OpEq, webhook.OpNe, webhook.OpLt, webhook.OpLte, webhook.OpGt, webhook.OpGte:
		return c.compare(sub, sqlOps[t.Op], t.Values[0])
	case webhook.OpBetween:
		lo, err := c.compare(sub, ">=", t.Values[0])
		if err != nil {
			return "", err
		}
		hi, err := c.compare(sub, "<=", t.Values[1])
		return "(" + lo + " AND " + hi + ")", err
	case webhook.OpIn:
		parts := make([]string, len(t.Values))
		for i, v := range t.Values {
			var err error
			if parts[i], err = c.compare(sub, "=", v); err != nil {
				return "", err
			}
		}
		return "(" + strings.Join(parts, " OR ") + ")", nil
	case webhook.OpStartsWith:
		if sub.typ == "" {
			return "0", nil
		}
		p := c.add(t.Values[0].Text)
		return "(" + sub.typ + " = 'text' AND substr(CAST(" + sub.val + " AS BLOB), 1, length(CAST(" + p + " AS BLOB))) = CAST(" + p + " AS BLOB))", nil
	case webhook.OpContains, webhook.OpNotContains:
		if sub.typ == "" {
			return "0", nil
		}
		v := t.Values[0]
		str := "0"
		if v.Kind == webhook.ValueString || v.Kind == webhook.ValueInstant {
			str = "instr(" + sub.val + ", " + c.add(v.Text) + ") > 0"
		}
		eq, err := c.compare(subject{typ: "x.type", val: "x.value"}, "=", v)
		if err != nil {
			return "", err
		}
		list := "EXISTS (SELECT 1 FROM json_each(" + sub.val + ") AS x WHERE coalesce(" + eq + ", 0))"
		not := ""
		if t.Op == webhook.OpNotContains {
			not = "NOT "
		}
		return "CASE " + sub.typ + " WHEN 'text' THEN " + not + "(" + str + ") WHEN 'array' THEN " + not + list + " ELSE 0 END", nil
	}
	return "", unsupported("operator %q", t.Op)
}

// compare returns the condition that sub compares by op with v, as the rules of
// webhook.AudienceFilter say; it may be NULL where it does not.
func (c *audienceSQL) compare(sub subject, op string, v webhook.FilterValue) (string, error) {
	switch v.Kind {
	case webhook.ValueNumber:
		n := sub.num
		if sub.typ != "" {
			n = numberOf(sub)
		}
		if n == nil {
			return "0", nil
		}
		f := "(" + n.float + " " + op + " " + c.add(v.Float) + ")"
		if !v.Whole || n.whole == "0" {
			return f, nil
		}
		return "CASE WHEN " + n.whole + " THEN (" + n.exact + ") " + op + " " + c.add(v.Int) + " ELSE " + f + " END", nil
	case webhook.ValueInstant:
		if sub.typ != "" {
			return "", unsupported("an instant in a JSON string")
		}
		if sub.instant == "" {
			return "0", nil
		}
		return "(" + sub.instant + " " + op + " " + c.add(instant(v.Time)) + ")", nil
	case webhook.ValueString:
		if sub.typ == "" {
			return "0", nil
		}
		return "(" + sub.typ + " = 'text' AND " + sub.val + " " + op + " " + c.add(v.Text) + ")", nil
	case webhook.ValueBool:
		if sub.typ == "" {
			return "0", nil
		}
		return "(" + sub.typ + " IN ('true', 'false') AND (" + sub.typ + " = 'true') " + op + " " + c.add(v.Bool) + ")", nil
	}
	return "0", nil
}
