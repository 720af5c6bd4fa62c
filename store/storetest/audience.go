package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

var audienceRules = []rule{
	{"SelectsTheUsersTheGoEvaluatorSelects", testAudienceAgreesWithGo},
	{"NamesWithAnyCharacters", testAudienceNames},
	{"ListsAsLongAsAnAudienceTakes", testAudienceLongLists},
}

// Sizes of the generated population and audiences.
const (
	audienceUsers     = 2500
	audienceAudiences = 400
)

// testAudienceAgreesWithGo saves a generated population, with attributes of every type and
// events with parameters over time, and checks that for many generated audiences, every
// operator and criterion kind nested in All, Any and Not, the Store's CountAudience and
// AudienceUsers select exactly the users that AudienceFilter.Match, the Go evaluator, does
// on the users and events the Store returns. An audience the Store refuses with
// ErrUnsupportedFilter is evaluated in Go by the Sender, and is skipped.
func testAudienceAgreesWithGo(t *testing.T, s webhook.Store) {
	as, ok := s.(webhook.AudienceStore)
	if !ok {
		t.Skip("the Store does not implement webhook.AudienceStore")
	}
	ctx := t.Context()
	r := rand.New(rand.NewPCG(13, 3))
	g := audienceGen{r: r, now: at(0)}
	var ups []webhook.UserUpdate
	var evs []webhook.Event
	for i := range audienceUsers {
		u := g.user(fmt.Sprintf("u%05d", i))
		ups = append(ups, webhook.UserUpdate{User: u, Replace: true})
		evs = append(evs, g.events(u.ID)...)
	}
	must(t, "PutUsers", s.PutUsers(ctx, webhook.PutUsersParams{Users: ups, Now: at(-time.Hour)}))
	for b := 0; b < len(evs); b += 1000 {
		saveEvents(t, s, evs[b:min(b+1000, len(evs))]...)
	}
	users, history := storedPopulation(t, s, audienceUsers)
	// Every operator on every kind of subject, then trees of them.
	var audiences []webhook.Audience
	for _, op := range genOps {
		for kind := range 4 {
			audiences = append(audiences, g.leaf(kind, op))
		}
		for _, f := range genFields {
			audiences = append(audiences, webhook.UserField(f, op, g.value(op)))
		}
		for _, agg := range genAggs {
			audiences = append(audiences, g.event(agg, op))
		}
	}
	// Every string starts with the empty string, the empty string too.
	audiences = append(audiences, webhook.Attr("a", webhook.OpStartsWith, ""), webhook.Not(webhook.Attr("b", webhook.OpStartsWith, "")))
	for n := len(audiences) + audienceAudiences; len(audiences) < n; {
		if a := g.audience(0); a.Validate() == nil {
			audiences = append(audiences, a)
		}
	}
	checked, unsupported, failed := 0, 0, 0
	for _, a := range audiences {
		if failed == 5 {
			break
		}
		f, err := a.Filter(g.now)
		if err != nil {
			continue // an invalid combination
		}
		checked++
		want := goSelects(f, users, history)
		n, err := as.CountAudience(ctx, webhook.AudienceQuery{Filter: f})
		if errors.Is(err, webhook.ErrUnsupportedFilter) {
			unsupported++
			continue
		}
		if err != nil {
			js, _ := json.Marshal(a)
			t.Fatalf("CountAudience(%s): %v", js, err)
		}
		var got []string
		for after := ""; ; {
			page, err := as.AudienceUsers(ctx, webhook.AudienceQuery{Filter: f, After: after, Limit: 701})
			must(t, "AudienceUsers", err)
			for _, u := range page {
				got = append(got, u.ID)
			}
			if len(page) < 701 {
				break
			}
			after = page[len(page)-1].ID
		}
		if n != len(want) || !slices.Equal(got, want) {
			failed++
			js, _ := json.Marshal(a)
			t.Errorf("audience %s: CountAudience = %d and AudienceUsers = %d users, but the Go evaluator selects %d; %s",
				js, n, len(got), len(want), describeDiff(got, want, users))
		}
	}
	t.Logf("%d audiences checked, %d refused with ErrUnsupportedFilter", checked, unsupported)
}

// testAudienceNames checks that attributes and event parameters whose names hold
// characters that a query language may give a meaning to (quotes, a backslash, a dot,
// brackets, HTML characters that JSON escapes) are selected as the Go evaluator selects
// them, or refused with ErrUnsupportedFilter.
func testAudienceNames(t *testing.T, s webhook.Store) {
	as, ok := s.(webhook.AudienceStore)
	if !ok {
		t.Skip("the Store does not implement webhook.AudienceStore")
	}
	ctx := t.Context()
	names := []string{`a\b`, `a\`, `a"b`, `a'b`, `a.b`, `a[0]`, `$`, `a<b&c>`, "a\tb", `\u0041`, "A", "é"}
	var ups []webhook.UserUpdate
	var evs []webhook.Event
	for i, name := range names {
		id := fmt.Sprintf("u%02d", i)
		ups = append(ups, webhook.UserUpdate{User: webhook.User{ID: id, Attributes: webhook.Map{name: "v"}}, Replace: true})
		evs = append(evs, webhook.Event{ID: id, UserID: id, Name: "e", Time: at(-time.Minute), Params: webhook.Map{name: int64(2)}})
	}
	must(t, "PutUsers", s.PutUsers(ctx, webhook.PutUsersParams{Users: ups, Now: at(-time.Hour)}))
	saveEvents(t, s, evs...)
	users, history := storedPopulation(t, s, len(names))
	for _, name := range names {
		for _, a := range []webhook.Audience{
			webhook.Attr(name, webhook.OpEq, "v"),
			webhook.EventStat("e", webhook.AggSum, name, 0, webhook.OpEq, 2),
			webhook.Did("e", 0, webhook.OpGte, 1).WhereParam(name, webhook.OpEq, 2),
		} {
			f, err := a.Filter(at(0))
			must(t, "Filter", err)
			want := len(goSelects(f, users, history))
			n, err := as.CountAudience(ctx, webhook.AudienceQuery{Filter: f})
			if errors.Is(err, webhook.ErrUnsupportedFilter) {
				continue
			}
			if err != nil || n != want {
				js, _ := json.Marshal(a)
				t.Errorf("CountAudience(%s) = %d, %v; the Go evaluator selects %d", js, n, err, want)
			}
		}
	}
}

// testAudienceLongLists checks that an audience with a list of as many values as
// Audience.Validate takes, 10,000 numbers, one with four such lists, and one with as many
// criteria as it takes, are counted and paged as the Go evaluator
// selects, or refused with ErrUnsupportedFilter (and so evaluated in Go by the Sender), not
// failed: a failure would fail AudienceSize and every page of a campaign's fan-out.
func testAudienceLongLists(t *testing.T, s webhook.Store) {
	as, ok := s.(webhook.AudienceStore)
	if !ok {
		t.Skip("the Store does not implement webhook.AudienceStore")
	}
	ctx := t.Context()
	var ups []webhook.UserUpdate
	for i := range 20 {
		ups = append(ups, webhook.UserUpdate{User: webhook.User{ID: fmt.Sprintf("u%02d", i), Attributes: webhook.Map{"n": int64(i * 3000)}}, Replace: true})
	}
	must(t, "PutUsers", s.PutUsers(ctx, webhook.PutUsersParams{Users: ups, Now: at(-time.Hour)}))
	var parts []webhook.Audience
	for l := range 4 {
		list := make([]any, 10000)
		for i := range list {
			list[i] = int64(l*10000 + i)
		}
		parts = append(parts, webhook.Attr("n", webhook.OpIn, list))
	}
	users, err := s.Users(ctx, webhook.UserQuery{Limit: 100})
	must(t, "Users", err)
	// And as many criteria as Audience.Validate takes, that compare no value.
	var leaves []webhook.Audience
	for range 996 {
		leaves = append(leaves, webhook.UserField("test", webhook.OpNotExists, nil))
	}
	many := webhook.All(webhook.Any(leaves...), webhook.Attr("n", webhook.OpLt, 9000))
	for _, a := range []webhook.Audience{parts[0], webhook.Any(parts...), many} {
		f, err := a.Filter(at(0))
		must(t, "Filter", err)
		want := goSelects(f, users, nil)
		js, _ := json.Marshal(a)
		what := fmt.Sprintf("an audience of %d bytes", len(js))
		n, err := as.CountAudience(ctx, webhook.AudienceQuery{Filter: f})
		if errors.Is(err, webhook.ErrUnsupportedFilter) {
			continue
		}
		if err != nil || n != len(want) {
			t.Errorf("CountAudience of %s = %d, %v; the Go evaluator selects %d", what, n, err, len(want))
		}
		page, err := as.AudienceUsers(ctx, webhook.AudienceQuery{Filter: f, Limit: 100})
		if err != nil || len(page) != len(want) {
			t.Errorf("AudienceUsers of %s = %d users, %v; the Go evaluator selects %d", what, len(page), err, len(want))
		}
	}
}

// storedPopulation returns the n users of s, and the events of each by user ID, as the
// Store returns them: what the Go evaluator reads.
func storedPopulation(t *testing.T, s webhook.Store, n int) ([]webhook.User, map[string][]webhook.Event) {
	users, err := s.Users(t.Context(), webhook.UserQuery{Limit: n + 1})
	must(t, "Users", err)
	if len(users) != n {
		t.Fatalf("Users returned %d users, want %d", len(users), n)
	}
	history := make(map[string][]webhook.Event, len(users))
	for _, u := range users {
		history[u.ID] = events(t, s, webhook.EventQuery{UserID: u.ID})
	}
	return users, history
}

// goSelects returns the IDs of the users that f, evaluated in Go by AudienceFilter.Match
// on each user's events in history, selects, in the order of users.
func goSelects(f *webhook.AudienceFilter, users []webhook.User, history map[string][]webhook.Event) []string {
	var ids []string
	for _, u := range users {
		if f.Match(&u, history[u.ID]) {
			ids = append(ids, u.ID)
		}
	}
	return ids
}

// describeDiff names a few users one side selects and the other does not, with their
// attributes.
func describeDiff(got, want []string, users []webhook.User) string {
	byID := map[string]webhook.User{}
	for _, u := range users {
		byID[u.ID] = u
	}
	var out string
	for _, d := range []struct {
		name     string
		in, from []string
	}{{"selected by the Store only", got, want}, {"selected by Go only", want, got}} {
		n := 0
		for _, id := range d.in {
			if !slices.Contains(d.from, id) && n < 3 {
				n++
				js, _ := json.Marshal(byID[id])
				out += fmt.Sprintf("\n\t%s: %s", d.name, js)
			}
		}
	}
	return out
}

// audienceGen generates users, events and audiences from a small set of names and values,
// so that criteria often meet them.
type audienceGen struct {
	r   *rand.Rand
	now time.Time
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

var (
	genAttrs = []string{"a", "b", "c"}
	// genValues are attribute and parameter values of every type, with the edge cases of
	// the rules: numeric strings and strings that are not quite, instants and strings that
	// are not quite, and empty values.
	genValues = []any{
		int64(0), int64(3), int64(36), int64(-2), int64(1000), 2.5, -0.5, 36.25, 1e300,
		"36", "-2.5", "1e3", "3", "0.5e1", " 36", "+36", "0x24", "36 years", "007", "1e400", "1e-400", ".5", "1e002", "1e0002", "1e+3", "2.5E+2", "1e+0002",
		"gold", "Gold", "golden", "silver", "", "göld", "g",
		"2001-02-03T04:05:06Z", "2001-02-03T09:35:06+05:30", "2001-01-01T00:00:00.5Z", "2001-02-30T00:00:00Z",
		"2000-02-29T12:00:00,25-01:00", "2001-02-03t04:05:06Z", "0000-01-01T00:00:00Z", "2001-02-03T04:05:06+24:00",
		"2001-02-03T04:05:06+05:60", "2001-02-03T04:05:06+05:61", "2001-02-03T04:05:06-00:99", "2001-02-03T4:05:06.5Z",
		"2001-02-03T04:05:06.0000004Z", "2001-02-03T04:05:05.9999996Z", "2001-02-03T04:05:06.0000000009Z",
		true, false, nil,
		[]any{}, []any{"gold", int64(3)}, []any{"36", 2.5, true}, []any{"2001-02-03T04:05:06Z"},
		map[string]any{}, map[string]any{"k": int64(1)},
	}
	// genCriterionValues are values criteria compare with.
	genCriterionValues = []any{
		int64(0), int64(3), int64(36), int64(-2), int64(1000), 2.5, -0.5, 36.25, 5.0,
		"gold", "Gold", "g", "", "36", "gol", "2.5",
		"2001-02-03T04:05:06Z", "2001-02-03T04:05:06+05:30", "2000-06-01T00:00:00Z", "2001-02-03T04:05:06.0000004Z",
		true, false,
	}
	genOps    = []webhook.Op{webhook.OpExists, webhook.OpNotExists, webhook.OpEq, webhook.OpNe, webhook.OpContains, webhook.OpNotContains, webhook.OpStartsWith, webhook.OpEmpty, webhook.OpGt, webhook.OpLt, webhook.OpGte, webhook.OpLte, webhook.OpBetween, webhook.OpIn, webhook.OpBefore, webhook.OpAfter, webhook.OpWithinLast, webhook.OpOlderThan}
	genFields = []string{"id", "email", "test", "country", "region", "city", "locale", "language", "time_zone", "created_at", "last_active"}
	genEvents = []string{"buy", "view"}
	genAggs   = []webhook.Aggregate{webhook.AggCount, webhook.AggSum, webhook.AggAvg, webhook.AggMin, webhook.AggMax, webhook.AggFirst, webhook.AggLast}
)

func (g *audienceGen) user(id string) webhook.User {
	r := g.r
	u := webhook.User{ID: id, Attributes: webhook.Map{},
		Email:     pick(r, "", "x@example.com", "Gold@example.com"),
		Country:   pick(r, "", "DE", "US"),
		City:      pick(r, "", "gold", "Berlin"),
		Locale:    pick(r, "", "en-US", "de_DE", "EN", "-US", "Fr"),
		TimeZone:  pick(r, "", "Europe/Berlin"),
		Test:      r.IntN(4) == 0,
		CreatedAt: g.now.Add(-time.Duration(r.IntN(90*24)) * time.Hour),
	}
	if r.IntN(2) == 0 {
		u.LastActive = g.now.Add(-time.Duration(r.IntN(60*24*60)) * time.Minute)
	}
	for _, a := range genAttrs {
		if r.IntN(5) > 0 {
			u.Attributes[a] = pick(r, genValues...)
		}
	}
	return u
}

func (g *audienceGen) events(user string) []webhook.Event {
	r := g.r
	var out []webhook.Event
	for i := range r.IntN(6) {
		p := webhook.Map{"sku": pick[any](r, "a", "b", int64(1))}
		if r.IntN(5) > 0 {
			p["amount"] = pick(r, genValues[:12]...)
		}
		out = append(out, webhook.Event{ID: fmt.Sprintf("%s-%d", user, i), UserID: user, Name: pick(r, genEvents...),
			Time: g.now.Add(-time.Duration(r.IntN(40*24*60))*time.Minute + time.Duration(r.IntN(3))*time.Microsecond), Params: p})
	}
	return out
}

// audience returns a random audience at depth.
func (g *audienceGen) audience(depth int) webhook.Audience {
	r := g.r
	if depth < 3 && r.IntN(3) == 0 {
		parts := make([]webhook.Audience, 1+r.IntN(3))
		for i := range parts {
			parts[i] = g.audience(depth + 1)
		}
		switch r.IntN(3) {
		case 0:
			return webhook.All(parts...)
		case 1:
			return webhook.Any(parts...)
		}
		return webhook.Not(parts[0])
	}
	return g.leaf(r.IntN(4), pick(r, genOps...))
}

// leaf returns a criterion with the operator op: on a user field (kind 0), a bucket (1),
// an event (2) or an attribute (3).
func (g *audienceGen) leaf(kind int, op webhook.Op) webhook.Audience {
	r := g.r
	switch kind {
	case 0:
		return webhook.UserField(pick(r, genFields...), op, g.value(op))
	case 1:
		return webhook.Audience{Criterion: webhook.Criterion{Bucket: "s", Op: op, Value: g.number(op, 1000)}}
	case 2:
		return g.event(pick(r, genAggs...), op)
	}
	return webhook.Attr(pick(r, genAttrs...), op, g.value(op))
}

// event returns an event criterion of the aggregate agg with the operator op.
func (g *audienceGen) event(agg webhook.Aggregate, op webhook.Op) webhook.Audience {
	r := g.r
	value := g.value(op)
	var param string
	switch agg {
	case webhook.AggSum, webhook.AggAvg, webhook.AggMin, webhook.AggMax:
		param = "amount"
	case webhook.AggCount:
		value = g.number(op, 5)
	}
	a := webhook.EventStat(pick(r, genEvents...), agg, param, time.Duration(pick(r, 0, 1, 7, 30))*24*time.Hour, op, value)
	if r.IntN(3) == 0 {
		a = a.WhereParam(pick(r, "sku", "amount"), pick(r, webhook.OpEq, webhook.OpGt, webhook.OpIn, webhook.OpNotExists), pick[any](r, "a", int64(1), int64(3)))
		if a.Where.Op == webhook.OpIn {
			a.Where.Value = []any{a.Where.Value, "b"}
		}
		if a.Where.Op == webhook.OpNotExists {
			a.Where.Value = nil
		}
	}
	return a
}

// value returns a value for op.
func (g *audienceGen) value(op webhook.Op) any {
	r := g.r
	switch op {
	case webhook.OpExists, webhook.OpNotExists, webhook.OpEmpty:
		return nil
	case webhook.OpWithinLast, webhook.OpOlderThan:
		return webhook.Duration(time.Duration(pick(r, 1, 24, 24*7, 24*30)) * time.Hour)
	case webhook.OpBefore, webhook.OpAfter:
		return pick[any](r, "2001-02-03T04:05:06Z", "2001-01-15T00:00:00+05:30", "2000-06-01T00:00:00Z")
	case webhook.OpBetween:
		x, y := pick(r, genCriterionValues...), pick(r, genCriterionValues...)
		return []any{x, y}
	case webhook.OpIn:
		list := make([]any, 1+r.IntN(3))
		for i := range list {
			list[i] = pick(r, genCriterionValues...)
		}
		return list
	}
	return pick(r, genCriterionValues...)
}

// number returns a whole number value below n for op, or a list of them.
func (g *audienceGen) number(op webhook.Op, n int) any {
	r := g.r
	switch op {
	case webhook.OpBetween:
		x, y := r.IntN(n), r.IntN(n)
		return []any{min(x, y), max(x, y)}
	case webhook.OpIn:
		return []any{r.IntN(n), r.IntN(n)}
	case webhook.OpEq, webhook.OpNe, webhook.OpGt, webhook.OpLt, webhook.OpGte, webhook.OpLte:
		return r.IntN(n)
	}
	return g.value(op)
}
