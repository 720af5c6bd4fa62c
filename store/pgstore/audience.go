package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/internal/sqlaudience"
)

var _ webhook.AudienceStore = (*Store)(nil)

// CountAudience implements [webhook.AudienceStore] in one statement: the users, each event
// criterion joined as the aggregate of a grouped scan of the index on (name, user_id, time),
// and the filter as a WHERE clause.
func (s *Store) CountAudience(ctx context.Context, q webhook.AudienceQuery) (int, error) {
	c := audienceSQL{}
	where, err := sqlaudience.Compile(q.Filter, &c)
	if err != nil {
		return 0, wrap("count audience", err)
	}
	var n int
	err = s.db.QueryRow(ctx, `SELECT count(*) FROM webhook_users u `+strings.Join(c.joins, " ")+` WHERE `+where, c.args...).Scan(&n)
	return n, wrap("count audience", err)
}

// AudienceUsers implements [webhook.AudienceStore] in one statement: the users after q.After
// in ID order, each event criterion a lateral aggregate of the user's events by the index
// on (user_id, name, time), so that a page costs what its users cost.
func (s *Store) AudienceUsers(ctx context.Context, q webhook.AudienceQuery) ([]webhook.User, error) {
	c := audienceSQL{lateral: true}
	where, err := sqlaudience.Compile(q.Filter, &c)
	if err != nil {
		return nil, wrap("audience users", err)
	}
	after, limit := c.args.add(q.After), c.args.add(max(q.Limit, 0))
	rows, err := s.db.Query(ctx, `SELECT u.data FROM webhook_users u `+strings.Join(c.joins, " ")+
		` WHERE u.id > `+after+` AND `+where+` ORDER BY u.id LIMIT `+limit, c.args...)
	if err != nil {
		return nil, wrap("audience users", err)
	}
	users, err := collect(rows, scanUser)
	return users, wrap("audience users", err)
}

// audienceSQL is the PostgreSQL dialect of sqlaudience: subjects in jsonb, following the
// rules of [webhook.AudienceFilter]. Every value is a bound parameter.
type audienceSQL struct {
	args  params
	joins []string // of the event criteria, e1, e2, ...
	// lateral joins each event criterion as a lateral subquery of one user's events;
	// otherwise as a subquery grouped by user.
	lateral bool
}

// Params implements sqlaudience.Dialect.
func (c *audienceSQL) Params() int { return len(c.args) }

// arg adds v as a parameter, cast to its SQL type.
func (c *audienceSQL) arg(v any) string {
	switch v.(type) {
	case float64:
		return c.args.add(v) + "::float8"
	case int64:
		return c.args.add(v) + "::bigint"
	case bool:
		return c.args.add(v) + "::boolean"
	case time.Time:
		return c.args.add(v) + "::timestamptz"
	}
	return c.args.add(v) + "::text"
}

// Subject implements sqlaudience.Dialect.
func (c *audienceSQL) Subject(f *webhook.AudienceFilter) (subject, error) {
	switch f.Kind {
	case webhook.FilterAttr:
		return jsonSubject("u.data -> 'attributes' -> " + c.arg(f.Name)), nil
	case webhook.FilterField:
		return fieldSubject(f.Name)
	case webhook.FilterBucket:
		salt := c.arg(f.Name)
		h := `('x' || encode(substring(sha256(convert_to(` + salt + `, 'UTF8') || '\x00'::bytea || convert_to(u.id, 'UTF8')) FROM 1 FOR 8), 'hex'))::bit(64)::bigint`
		n := `mod(` + h + `::numeric + CASE WHEN ` + h + ` < 0 THEN 18446744073709551616 ELSE 0 END, 1000)`
		return subject{num: &sqlaudience.Number{Whole: sqlaudience.Always, Exact: n, Float: n + "::float8"}, set: sqlaudience.Always}, nil
	case webhook.FilterEvent:
		return c.event(f)
	}
	return subject{}, sqlaudience.Unsupported("filter kind %d", f.Kind)
}

// fieldSubject returns the subject of a user field.
func fieldSubject(name string) (subject, error) {
	switch name {
	case "test":
		return jsonSubject(`coalesce(u.data -> 'test', 'false')`), nil
	case "created_at", "last_active":
		t := instant("u.data -> '" + name + "'")
		return subject{instant: t, set: t + " IS NOT NULL"}, nil
	case "language":
		return jsonSubject(`to_jsonb(nullif(lower(split_part(split_part(u.data ->> 'locale', '-', 1), '_', 1)), ''))`), nil
	case "id", "email", "country", "region", "city", "locale", "time_zone":
		return jsonSubject(`to_jsonb(nullif(u.data ->> '` + name + `', ''))`), nil
	}
	return subject{}, sqlaudience.Unsupported("user field %q", name)
}

// event joins the aggregate of an event criterion and returns it as a subject.
func (c *audienceSQL) event(f *webhook.AudienceFilter) (subject, error) {
	alias := fmt.Sprintf("e%d", len(c.joins)+1)
	cond := []string{"e.name = " + c.arg(f.Name), "e.time <= " + c.arg(f.Until)}
	if !f.Since.IsZero() {
		cond = append(cond, "e.time >= "+c.arg(ceilMicro(f.Since)))
	}
	if f.Where != nil {
		p, err := sqlaudience.Test(c, jsonSubject("e.params -> "+c.arg(f.Where.Key)), f.Where.Test)
		if err != nil {
			return subject{}, err
		}
		cond = append(cond, p)
	}
	var agg string
	param := func(fn string) string {
		return fn + "(" + numberOf("e.params -> "+c.arg(f.Param)) + ")"
	}
	a := alias + ".a"
	var sub subject
	switch f.Agg {
	case webhook.AggCount:
		agg = "count(*)"
		sub = subject{num: &sqlaudience.Number{Whole: sqlaudience.Always, Exact: "coalesce(" + a + ", 0)", Float: "coalesce(" + a + ", 0)::float8"}, set: sqlaudience.Always}
	case webhook.AggSum:
		// The sum is exact, and then rounded; it overflows to an infinity as float64 does.
		agg = param("sum")
		sum := "coalesce(" + a + ", 0)"
		sub = subject{num: &sqlaudience.Number{Whole: sqlaudience.Never, Float: "CASE WHEN " + sum + " >= " + maxFloat + " THEN 'Infinity'::float8 WHEN " + sum + " <= -" + maxFloat +
			" THEN '-Infinity'::float8 ELSE " + floatOf(sum) + " END"}, set: sqlaudience.Always}
	case webhook.AggAvg, webhook.AggMin, webhook.AggMax:
		agg = param(string(f.Agg))
		sub = subject{num: &sqlaudience.Number{Whole: sqlaudience.Never, Float: floatOf(a)}, set: a + " IS NOT NULL"}
	case webhook.AggFirst:
		agg = "min(e.time)"
		sub = subject{instant: epochOf(a), set: a + " IS NOT NULL"}
	case webhook.AggLast:
		agg = "max(e.time)"
		sub = subject{instant: epochOf(a), set: a + " IS NOT NULL"}
	default:
		return subject{}, sqlaudience.Unsupported("aggregate %q", f.Agg)
	}
	if c.lateral {
		c.joins = append(c.joins, `LEFT JOIN LATERAL (SELECT `+agg+` AS a FROM webhook_events e WHERE e.user_id = u.id COLLATE "default" AND `+
			strings.Join(cond, " AND ")+`) `+alias+` ON true`)
	} else {
		c.joins = append(c.joins, `LEFT JOIN (SELECT e.user_id, `+agg+` AS a FROM webhook_events e WHERE `+
			strings.Join(cond, " AND ")+` GROUP BY e.user_id) `+alias+` ON `+alias+`.user_id = u.id COLLATE "default"`)
	}
	return sub, nil
}

// subject is what a test compares: a jsonb value (NULL if missing), an instant, or a
// number.
type subject struct {
	json    string
	instant string              // seconds since the Unix epoch, numeric (see epochOf)
	num     *sqlaudience.Number // exact values are numeric, floats float8
	set     string              // whether an instant or number is set
}

func jsonSubject(j string) subject {
	return subject{json: j, set: "(" + j + " IS NOT NULL AND " + j + " <> 'null'::jsonb)"}
}

// jsonNumberRE matches a string that spells a number as JSON writes one, with an exponent
// of at most 3 digits; jsonIntRE one with no fraction and no exponent.
const (
	jsonNumberRE = `'^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$'`
	jsonIntRE    = `'^-?(0|[1-9][0-9]*)$'`
	// maxFloat is the least magnitude that float64 parsing rounds to infinity.
	maxFloat = `1.797693134862315807937e308`
)

// numberOf returns the numeric value of the jsonb j: a number, or a string that spells one;
// NULL otherwise.
func numberOf(j string) string {
	s := "(" + j + " #>> '{}')"
	return `CASE jsonb_typeof(` + j + `) WHEN 'number' THEN (` + j + `)::numeric WHEN 'string' THEN CASE WHEN ` + s + ` ~ ` + jsonNumberRE +
		` THEN CASE WHEN abs(` + s + `::numeric) < ` + maxFloat + ` THEN ` + s + `::numeric END END END`
}

// floatOf returns the numeric n as a float8, as Go's strconv.ParseFloat reads it.
func floatOf(n string) string {
	return `CASE WHEN abs(` + n + `) < 2.4703282292062328e-324 THEN 0::float8 ELSE (` + n + `)::float8 END`
}

// jsonNumber returns the number subject of the jsonb j.
func jsonNumber(j string) *sqlaudience.Number {
	n := numberOf(j)
	s := "(" + j + " #>> '{}')"
	inRange := ` BETWEEN -9223372036854775808 AND 9223372036854775807`
	whole := `CASE jsonb_typeof(` + j + `) WHEN 'number' THEN scale((` + j + `)::numeric) = 0 AND (` + j + `)::numeric` + inRange +
		` WHEN 'string' THEN CASE WHEN ` + s + ` ~ ` + jsonIntRE + ` THEN ` + s + `::numeric` + inRange + ` END END`
	return &sqlaudience.Number{Whole: whole, Exact: n, Float: floatOf(n)}
}

// epochOf returns the timestamptz t in seconds since the Unix epoch, a numeric that holds
// its microseconds exactly. Instants compare so, to the nanosecond as in Go: an instant
// that a string spells may have more digits than a timestamptz holds.
func epochOf(t string) string { return "extract(epoch FROM " + t + ")" }

// instant returns the instant of the jsonb j, a string that Go's time.Parse reads with
// time.RFC3339 (offset hours up to 24, minutes up to 60), in seconds since the Unix epoch
// to the nanosecond (see epochOf); NULL if it is not one.
func instant(j string) string {
	s := "(" + j + " #>> '{}')"
	const re = `'^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.,][0-9]+)?(Z|[+-]([01][0-9]|2[0-4]):([0-5][0-9]|60))$'`
	y, m := "left("+s+", 4)::int", "substr("+s+", 6, 2)"
	days := `CASE WHEN ` + m + ` IN ('04', '06', '09', '11') THEN 30 WHEN ` + m + ` = '02' THEN CASE WHEN (` + y + ` % 4 = 0 AND ` + y + ` % 100 <> 0) OR ` + y + ` % 400 = 0 THEN 29 ELSE 28 END ELSE 31 END`
	offset := `CASE WHEN right(` + s + `, 1) = 'Z' THEN 0 ELSE (substr(` + s + `, length(` + s + `) - 5, 1) || '1')::int * (substr(` + s + `, length(` + s + `) - 4, 2)::int * 60 + right(` + s + `, 2)::int) END`
	frac := `coalesce(replace(substring(` + s + ` FROM '^.{19}([.,][0-9]+)'), ',', '.')::numeric, 0)`
	// Year 0000 is 1 BC.
	date := `CASE WHEN left(` + s + `, 4) = '0000' THEN '0001' || substr(` + s + `, 5, 6) || ' ' || substr(` + s + `, 12, 8) || ' BC' ELSE left(` + s + `, 10) || ' ' || substr(` + s + `, 12, 8) END`
	// time.Parse reads 9 digits of a fraction and drops the rest.
	epoch := `(` + epochOf(`(`+date+`)::timestamp`) + ` - ` + offset + ` * 60 + trunc(` + frac + `, 9))`
	return `CASE WHEN jsonb_typeof(` + j + `) = 'string' THEN CASE WHEN ` + s + ` ~ ` + re + ` THEN CASE WHEN substr(` + s + `, 9, 2)::int <= ` + days + ` THEN ` + epoch + ` END END END`
}

// Set implements sqlaudience.Dialect.
func (c *audienceSQL) Set(sub subject) string { return sub.set }

// Empty implements sqlaudience.Dialect.
func (c *audienceSQL) Empty(sub subject) string {
	if sub.json == "" {
		return sqlaudience.Never
	}
	return "(" + sub.json + " IS NULL OR " + sub.json + ` IN ('null', '""', '[]', '{}'))`
}

// StartsWith implements sqlaudience.Dialect.
func (c *audienceSQL) StartsWith(sub subject, prefix string) string {
	if sub.json == "" {
		return sqlaudience.Never
	}
	return "(jsonb_typeof(" + sub.json + ") = 'string' AND starts_with(" + sub.json + " #>> '{}', " + c.arg(prefix) + "))"
}

// IsString implements sqlaudience.Dialect.
func (c *audienceSQL) IsString(sub subject) string { return typeIs(sub, "string") }

// IsList implements sqlaudience.Dialect.
func (c *audienceSQL) IsList(sub subject) string { return typeIs(sub, "array") }

// typeIs returns the condition that sub is a JSON value of the type typ.
func typeIs(sub subject, typ string) string {
	if sub.json == "" {
		return sqlaudience.Never
	}
	return "jsonb_typeof(" + sub.json + ") = '" + typ + "'"
}

// ContainsText implements sqlaudience.Dialect.
func (c *audienceSQL) ContainsText(sub subject, text string) string {
	return "strpos(" + sub.json + " #>> '{}', " + c.arg(text) + ") > 0"
}

// Elements implements sqlaudience.Dialect.
func (c *audienceSQL) Elements(sub subject) (string, subject) {
	return "jsonb_array_elements(" + sub.json + ") AS x(e)", jsonSubject("x.e")
}

// Compare implements sqlaudience.Dialect.
func (c *audienceSQL) Compare(sub subject, op string, v webhook.FilterValue) (string, error) {
	switch v.Kind {
	case webhook.ValueNumber:
		n := sub.num
		if sub.json != "" {
			n = jsonNumber(sub.json)
		}
		if n == nil {
			return sqlaudience.Never, nil
		}
		return n.Compare(op, v, c.arg), nil
	case webhook.ValueInstant:
		t := sub.instant
		if sub.json != "" {
			t = instant(sub.json)
		}
		if t == "" {
			return sqlaudience.Never, nil
		}
		return "(" + t + " " + op + " (" + c.arg(v.Time.Unix()) + " + " + c.arg(int64(v.Time.Nanosecond())) + " / 1000000000.0))", nil
	case webhook.ValueString:
		if sub.json == "" {
			return sqlaudience.Never, nil
		}
		return "(jsonb_typeof(" + sub.json + ") = 'string' AND (" + sub.json + ` #>> '{}') COLLATE "C" ` + op + " " + c.arg(v.Text) + ")", nil
	case webhook.ValueBool:
		if sub.json == "" {
			return sqlaudience.Never, nil
		}
		return "CASE WHEN jsonb_typeof(" + sub.json + ") = 'boolean' THEN (" + sub.json + ")::boolean " + op + " " + c.arg(v.Bool) + " END", nil
	}
	return sqlaudience.Never, nil
}
