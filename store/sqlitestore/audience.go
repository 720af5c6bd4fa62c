package sqlitestore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/internal/sqlaudience"
)

var _ webhook.AudienceStore = (*Store)(nil)

// CountAudience implements [webhook.AudienceStore] in one statement over the users, each
// event criterion a correlated aggregate of the user's events by the index on (user_id,
// name, time). It refuses buckets with [webhook.ErrUnsupportedFilter] (SQLite has no
// SHA-256), and attribute and parameter names with a double quote or a backslash, for the
// Sender to evaluate in Go.
func (s *Store) CountAudience(ctx context.Context, q webhook.AudienceQuery) (int, error) {
	var c audienceSQL
	where, err := sqlaudience.Compile(q.Filter, &c)
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
	where, err := sqlaudience.Compile(q.Filter, &c)
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

// audienceSQL is the SQLite dialect of sqlaudience: subjects by json_type and
// json_extract, following the rules of [webhook.AudienceFilter]. Every value is a bound
// parameter, numbered.
type audienceSQL struct {
	args []any
}

// Params implements sqlaudience.Dialect.
func (c *audienceSQL) Params() int { return len(c.args) }

// add appends v and returns its placeholder, such as "?3".
func (c *audienceSQL) add(v any) string {
	c.args = append(c.args, v)
	return "?" + strconv.Itoa(len(c.args))
}

// Subject implements sqlaudience.Dialect.
func (c *audienceSQL) Subject(f *webhook.AudienceFilter) (subject, error) {
	switch f.Kind {
	case webhook.FilterAttr:
		return c.jsonAt("u.data", "attributes", f.Name)
	case webhook.FilterField:
		return c.field(f.Name)
	case webhook.FilterEvent:
		return c.event(f)
	case webhook.FilterBucket:
		return subject{}, sqlaudience.Unsupported("a bucket: SQLite has no SHA-256")
	}
	return subject{}, sqlaudience.Unsupported("filter kind %d", f.Kind)
}

// jsonAt returns the subject at the key of the JSON document doc, under the key parent if
// it is not empty. A key with a double quote or a backslash is refused: a JSON path quotes
// the key, and SQLite reads a backslash in it as an escape (a key ending in one makes the
// path invalid, another selects a different key).
func (c *audienceSQL) jsonAt(doc, parent, key string) (subject, error) {
	if strings.ContainsAny(key, `"\`) {
		return subject{}, sqlaudience.Unsupported("a key with a double quote or a backslash: %q", key)
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
	case "created_at", "last_active":
		k := instantKey("json_extract(u.data, '$." + name + "')")
		return subject{key: k, set: k + " IS NOT NULL"}, nil
	case "id", "email", "country", "region", "city", "locale", "time_zone":
		return textSubject("nullif(json_extract(u.data, '$." + name + "'), '')"), nil
	}
	return subject{}, sqlaudience.Unsupported("user field %q", name)
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
		p, err := sqlaudience.Test(c, sub, f.Where.Test)
		if err != nil {
			return subject{}, err
		}
		cond = append(cond, p)
	}
	agg := func(fn string) string {
		return "(SELECT " + fn + " FROM webhook_events e WHERE " + strings.Join(cond, " AND ") + ")"
	}
	param := func(fn string) (string, error) {
		sub, err := c.jsonAt("e.params", "", f.Param)
		return agg(fn + "(" + numberOf(sub).Float + ")"), err
	}
	switch f.Agg {
	case webhook.AggCount:
		a := agg("count(*)")
		return subject{num: &sqlaudience.Number{Whole: sqlaudience.Always, Exact: a, Float: a}, set: sqlaudience.Always}, nil
	case webhook.AggSum:
		a, err := param("total")
		return subject{num: &sqlaudience.Number{Whole: sqlaudience.Never, Float: a}, set: sqlaudience.Always}, err
	case webhook.AggAvg, webhook.AggMin, webhook.AggMax:
		a, err := param(string(f.Agg))
		return subject{num: &sqlaudience.Number{Whole: sqlaudience.Never, Float: "CAST(" + a + " AS REAL)"}, set: a + " IS NOT NULL"}, err
	case webhook.AggFirst, webhook.AggLast:
		fn := "min"
		if f.Agg == webhook.AggLast {
			fn = "max"
		}
		a := agg(fn + "(e.time)")
		return subject{instant: a, set: a + " IS NOT NULL"}, nil
	}
	return subject{}, sqlaudience.Unsupported("aggregate %q", f.Agg)
}

// subject is what a test compares: a JSON value, by its json_type (NULL if missing) and
// json_extract; an instant in nanoseconds, or as the key of instantKey; or a number.
type subject struct {
	typ, val string
	instant  string
	key      string
	num      *sqlaudience.Number
	set      string // whether an instant or number is set
}

// instantKey returns, for the string s that Go's time.Parse reads with time.RFC3339
// (offset hours up to 24, minutes up to 60), a key that sorts as the instants do (see
// keyOf), and NULL for any other value.
func instantKey(s string) string {
	z := "substr(" + s + ", -6)" // the offset, if not Z
	frac := "CASE WHEN " + s + " GLOB '*Z' THEN substr(" + s + ", 20, length(" + s + ") - 20) ELSE substr(" + s + ", 20, length(" + s + ") - 25) END"
	valid := "typeof(" + s + ") = 'text' AND " + s + " GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]*' AND substr(" + s + ", 12, 2) <= '23' AND " +
		"(" + s + " GLOB '*Z' OR (" + z + " GLOB '[+-][0-2][0-9]:[0-9][0-9]' AND substr(" + z + ", 2, 2) <= '24' AND substr(" + z + ", 5, 2) <= '60')) AND " +
		"(" + frac + " = '' OR (substr(" + frac + ", 1, 1) IN ('.', ',') AND length(" + frac + ") > 1 AND substr(" + frac + ", 2) NOT GLOB '*[^0-9]*'))"
	offset := "CASE WHEN " + s + " GLOB '*Z' THEN 0 ELSE (CASE substr(" + z + ", 1, 1) WHEN '-' THEN -1 ELSE 1 END) * (CAST(substr(" + z + ", 2, 2) AS INTEGER) * 60 + CAST(substr(" + z + ", 5, 2) AS INTEGER)) END"
	date := "substr(" + s + ", 1, 10)"
	sec := "unixepoch(" + date + " || ' ' || substr(" + s + ", 12, 8)) - 60 * " + offset
	nanos := "CAST(substr(substr(" + frac + ", 2) || '000000000', 1, 9) AS INTEGER)"
	return "CASE WHEN " + valid + " THEN CASE WHEN date(" + date + ") = " + date + " THEN printf('%012d%09d', " + sec + " + 100000000000, " + nanos + ") END END"
}

// keyOf returns the key of t that instantKey returns for its RFC 3339 form: its Unix
// seconds plus 10^11 (so that every year from 0000 is positive) in 12 digits, then its
// nanoseconds in 9.
func keyOf(t time.Time) string {
	return fmt.Sprintf("%012d%09d", t.Unix()+1e11, t.Nanosecond())
}

// textSubject returns the subject of the string t, not set if NULL.
func textSubject(t string) subject {
	return subject{typ: "CASE WHEN " + t + " IS NOT NULL THEN 'text' END", val: t}
}

// maxFloat is the least magnitude that float64 parsing rounds to infinity.
const maxFloat = `1.797693134862315807937e308`

// numberOf returns the number of the JSON subject sub: a number, or a string that spells
// one as JSON writes it (canonical JSON, only the characters of a number, a sign after
// an exponent's e included, and an exponent of at most 3 digits) and does not overflow a float64.
func numberOf(sub subject) *sqlaudience.Number {
	v := sub.val
	isNum := "CASE WHEN json_valid(" + v + ") THEN json_type(" + v + ") IN ('integer', 'real') AND " + v + ` NOT GLOB '*[^-+.0-9eE]*' AND ` +
		v + ` NOT GLOB '*[eE]*[0-9][0-9][0-9][0-9]*' AND abs(CAST(` + v + ` AS REAL)) < ` + maxFloat + " END"
	str := "CASE WHEN " + sub.typ + " = 'text' THEN CASE WHEN " + isNum + " THEN "
	return &sqlaudience.Number{
		Whole: "CASE " + sub.typ + " WHEN 'integer' THEN 1 WHEN 'real' THEN 0 WHEN 'text' THEN CASE WHEN " + isNum + " THEN json_type(" + v + ") = 'integer' END END",
		Exact: "CASE " + sub.typ + " WHEN 'integer' THEN " + v + " ELSE " + str + "CAST(" + v + " AS INTEGER) END END END",
		Float: "CASE WHEN " + sub.typ + " IN ('integer', 'real') THEN CAST(" + v + " AS REAL) ELSE " + str + "CAST(" + v + " AS REAL) END END END",
	}
}

// Set implements sqlaudience.Dialect.
func (c *audienceSQL) Set(sub subject) string {
	if sub.typ == "" {
		return sub.set
	}
	return "(" + sub.typ + " IS NOT NULL AND " + sub.typ + " <> 'null')"
}

// Empty implements sqlaudience.Dialect.
func (c *audienceSQL) Empty(sub subject) string {
	if sub.typ == "" {
		return sqlaudience.Never
	}
	return "(" + sub.typ + " IS NULL OR " + sub.typ + " = 'null' OR (" + sub.typ + " = 'text' AND " + sub.val + " = '') OR (" +
		sub.typ + " IN ('array', 'object') AND " + sub.val + " IN ('[]', '{}')))"
}

// StartsWith implements sqlaudience.Dialect: byte-wise. Every string starts with "" (which
// substr cannot say: it makes an empty blob NULL).
func (c *audienceSQL) StartsWith(sub subject, prefix string) string {
	if sub.typ == "" {
		return sqlaudience.Never
	}
	if prefix == "" {
		return "(" + sub.typ + " = 'text')"
	}
	p := c.add(prefix)
	return "(" + sub.typ + " = 'text' AND substr(CAST(" + sub.val + " AS BLOB), 1, length(CAST(" + p + " AS BLOB))) = CAST(" + p + " AS BLOB))"
}

// IsString implements sqlaudience.Dialect.
func (c *audienceSQL) IsString(sub subject) string { return typeIs(sub, "text") }

// IsList implements sqlaudience.Dialect.
func (c *audienceSQL) IsList(sub subject) string { return typeIs(sub, "array") }

// typeIs returns the condition that sub is a JSON value of the type typ.
func typeIs(sub subject, typ string) string {
	if sub.typ == "" {
		return sqlaudience.Never
	}
	return sub.typ + " = '" + typ + "'"
}

// ContainsText implements sqlaudience.Dialect.
func (c *audienceSQL) ContainsText(sub subject, text string) string {
	return "instr(" + sub.val + ", " + c.add(text) + ") > 0"
}

// Elements implements sqlaudience.Dialect.
func (c *audienceSQL) Elements(sub subject) (string, subject) {
	return "json_each(" + sub.val + ") AS x", subject{typ: "x.type", val: "x.value"}
}

// Compare implements sqlaudience.Dialect.
func (c *audienceSQL) Compare(sub subject, op string, v webhook.FilterValue) (string, error) {
	switch v.Kind {
	case webhook.ValueNumber:
		n := sub.num
		if sub.typ != "" {
			n = numberOf(sub)
		}
		if n == nil {
			return sqlaudience.Never, nil
		}
		return n.Compare(op, v, c.add), nil
	case webhook.ValueInstant:
		switch {
		case sub.typ != "":
			return "(" + instantKey(sub.val) + " " + op + " " + c.add(keyOf(v.Time)) + ")", nil
		case sub.key != "":
			return "(" + sub.key + " " + op + " " + c.add(keyOf(v.Time)) + ")", nil
		case sub.instant != "":
			return "(" + sub.instant + " " + op + " " + c.add(instant(v.Time)) + ")", nil
		}
		return sqlaudience.Never, nil
	case webhook.ValueString:
		if sub.typ == "" {
			return sqlaudience.Never, nil
		}
		return "(" + sub.typ + " = 'text' AND " + sub.val + " " + op + " " + c.add(v.Text) + ")", nil
	case webhook.ValueBool:
		if sub.typ == "" {
			return sqlaudience.Never, nil
		}
		return "(" + sub.typ + " IN ('true', 'false') AND (" + sub.typ + " = 'true') " + op + " " + c.add(v.Bool) + ")", nil
	}
	return sqlaudience.Never, nil
}
