package webhook_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// days is a length of time: 30 * days.
const days = 24 * time.Hour

// population is a Sender on a memstore, not started, at epoch on a fake clock.
type population struct {
	ctx    context.Context
	store  *memstore.Store
	sender *webhook.Sender
}

func newPopulation(tb testing.TB, users ...webhook.User) *population {
	tb.Helper()
	p := &population{ctx: context.Background(), store: memstore.New()}
	p.sender, _ = webhooktest.NewSender(tb, p.store, &webhook.Config{Clock: webhooktest.NewFakeClock(epoch)})
	for _, u := range users {
		if err := putUser(p.ctx, p.store, u); err != nil {
			tb.Fatal(err)
		}
	}
	return p
}

// did records events for a user, each at epoch plus its offset.
func (p *population) did(tb testing.TB, user, name string, at time.Duration, params webhook.Map) {
	tb.Helper()
	if err := p.sender.Trigger(p.ctx, webhook.Event{UserID: user, Name: name, Time: epoch.Add(at), Params: params}); err != nil {
		tb.Fatal(err)
	}
}

// size returns the number of users a matches.
func (p *population) size(tb testing.TB, a webhook.Audience) int {
	tb.Helper()
	n, err := p.sender.AudienceSize(p.ctx, a)
	if err != nil {
		tb.Fatalf("AudienceSize(%s) = %v", mustJSON(tb, a), err)
	}
	return n
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// mary is the user every criterion in TestAudienceCriteria is tried on.
var mary = webhook.User{
	ID: "u-1", Email: "mary@example.com", Country: "DE", Region: "BE", City: "Berlin",
	Locale: "de-DE", TimeZone: "Europe/Berlin", Test: true,
	CreatedAt: epoch.Add(-2 * days), LastActive: epoch.Add(-time.Hour),
	Attributes: webhook.Map{
		"plan": "gold", "age": int64(30), "score": 9.5, "vip": true, "tags": []any{"a", "b"},
		"name": "Mary", "s10": "10", "n9": int64(9), "blank": "", "null": nil, "none": []any{},
		"s2_5": "-2.5", "sx": "0x10", "spaced": " 10", "plus": "+10", "years": "10 years",
		"signup": "2026-11-20T09:00:00Z", "obj": map[string]any{"k": "v"}, "no_obj": webhook.Map{},
		"seen_ktm": "2026-11-20T14:45:00+05:45", "seen_lhi": "2026-11-23T20:00:00+11:00",
	},
}

func TestAudienceCriteria(t *testing.T) {
	p := newPopulation(t, mary)
	// Mary's purchases: one at the 30-day window's edge, one at the clock's now, one in
	// the future (not yet happened), and two between.
	p.did(t, "u-1", "purchase", -30*days, webhook.Map{"amount": int64(100), "currency": "USD"})
	p.did(t, "u-1", "purchase", -10*days, webhook.Map{"amount": int64(20), "currency": "EUR"})
	p.did(t, "u-1", "purchase", -days, webhook.Map{"amount": 5.5, "currency": "USD"})
	p.did(t, "u-1", "purchase", 0, webhook.Map{"amount": "lots"})
	p.did(t, "u-1", "purchase", time.Hour, webhook.Map{"amount": int64(1000)})
	p.did(t, "u-2", "purchase", 0, nil) // someone else's
	// Tips, whose amounts arrive as strings.
	p.did(t, "u-1", "tip", -days, webhook.Map{"amount": "10"})
	p.did(t, "u-1", "tip", -days, webhook.Map{"amount": "2.5"})
	p.did(t, "u-1", "tip", -days, webhook.Map{"amount": "n/a"})
	const month = 30 * days
	Attr, Field := webhook.Attr, webhook.UserField
	for _, tt := range []struct {
		name string
		a    webhook.Audience
		want bool
	}{
		{"everyone", webhook.Audience{}, true},

		{"exists", Attr("plan", webhook.OpExists, nil), true},
		{"exists missing", Attr("nope", webhook.OpExists, nil), false},
		{"exists null", Attr("null", webhook.OpExists, nil), false},
		{"not_exists missing", Attr("nope", webhook.OpNotExists, nil), true},
		{"not_exists null", Attr("null", webhook.OpNotExists, nil), true},
		{"not_exists set", Attr("plan", webhook.OpNotExists, nil), false},

		{"eq", Attr("plan", webhook.OpEq, "gold"), true},
		{"eq other", Attr("plan", webhook.OpEq, "silver"), false},
		{"eq missing", Attr("nope", webhook.OpEq, "gold"), false},
		{"eq is case-sensitive", Attr("plan", webhook.OpEq, "Gold"), false},
		{"ne", Attr("plan", webhook.OpNe, "silver"), true},
		{"ne same", Attr("plan", webhook.OpNe, "gold"), false},
		{"ne missing", Attr("nope", webhook.OpNe, "gold"), false},
		{"ne other type", Attr("plan", webhook.OpNe, 1), false},

		// A string that spells a number the way JSON writes one compares with a number as it.
		{`"10" eq 10`, Attr("s10", webhook.OpEq, 10), true},
		{`"10" gt 9`, Attr("s10", webhook.OpGt, 9), true},
		{`"10" lt 9`, Attr("s10", webhook.OpLt, 9), false},
		{`"-2.5" lt -2`, Attr("s2_5", webhook.OpLt, -2), true},
		{`"-2.5" in [-2.5, 3]`, Attr("s2_5", webhook.OpIn, []any{-2.5, 3}), true},
		{`"0x10" eq 16`, Attr("sx", webhook.OpEq, 16), false},
		{`" 10" eq 10`, Attr("spaced", webhook.OpEq, 10), false},
		{`"+10" eq 10`, Attr("plus", webhook.OpEq, 10), false},
		{`"10 years" gte 10`, Attr("years", webhook.OpGte, 10), false},
		{`"10" eq "10"`, Attr("s10", webhook.OpEq, "10"), true},
		{`9 eq "9"`, Attr("n9", webhook.OpEq, "9"), false},
		{"9 lt 10", Attr("n9", webhook.OpLt, 10), true},
		{`9 lt "10"`, Attr("n9", webhook.OpLt, "10"), false},
		{"int eq whole float", Attr("age", webhook.OpEq, 30.0), true},
		{"float gt int", Attr("score", webhook.OpGt, 9), true},
		{"float eq", Attr("score", webhook.OpEq, 9.5), true},
		{"bool eq", Attr("vip", webhook.OpEq, true), true},
		{"bool eq false", Attr("vip", webhook.OpEq, false), false},
		{`bool eq "true"`, Attr("vip", webhook.OpEq, "true"), false},
		{"list eq", Attr("tags", webhook.OpEq, "a"), false},

		{"contains substring", Attr("name", webhook.OpContains, "ar"), true},
		{"contains element", Attr("tags", webhook.OpContains, "a"), true},
		{"contains no element", Attr("tags", webhook.OpContains, "z"), false},
		{"contains missing", Attr("nope", webhook.OpContains, "a"), false},
		{"contains in a number", Attr("age", webhook.OpContains, 3), false},
		{"not_contains substring", Attr("name", webhook.OpNotContains, "x"), true},
		{"not_contains element", Attr("tags", webhook.OpNotContains, "a"), false},
		{"not_contains other element", Attr("tags", webhook.OpNotContains, "z"), true},
		{"not_contains missing", Attr("nope", webhook.OpNotContains, "a"), false},
		{"not_contains in a number", Attr("age", webhook.OpNotContains, 3), false},
		{"starts_with", Attr("name", webhook.OpStartsWith, "Ma"), true},
		{"starts_with case", Attr("name", webhook.OpStartsWith, "ma"), false},
		{"starts_with a number", Attr("age", webhook.OpStartsWith, "3"), false},

		{"empty string", Attr("blank", webhook.OpEmpty, nil), true},
		{"empty missing", Attr("nope", webhook.OpEmpty, nil), true},
		{"empty null", Attr("null", webhook.OpEmpty, nil), true},
		{"empty list", Attr("none", webhook.OpEmpty, nil), true},
		{"empty set string", Attr("name", webhook.OpEmpty, nil), false},
		{"empty object", Attr("obj", webhook.OpEmpty, nil), false},
		{"empty Map", Attr("no_obj", webhook.OpEmpty, nil), true},
		{"empty number", Attr("age", webhook.OpEmpty, nil), false},

		{"gt", Attr("age", webhook.OpGt, 29), true},
		{"gt equal", Attr("age", webhook.OpGt, 30), false},
		{"gte equal", Attr("age", webhook.OpGte, 30), true},
		{"gte", Attr("age", webhook.OpGte, 31), false},
		{"lt equal", Attr("age", webhook.OpLt, 30), false},
		{"lte equal", Attr("age", webhook.OpLte, 30), true},
		{"lte", Attr("age", webhook.OpLte, 29.9), false},
		{"gt string", Attr("name", webhook.OpGt, "Adam"), true},
		{"lt string", Attr("name", webhook.OpLt, "Adam"), false},
		{"between inside", Attr("age", webhook.OpBetween, []any{18, 30}), true},
		{"between low edge", Attr("age", webhook.OpBetween, []any{30, 40}), true},
		{"between outside", Attr("age", webhook.OpBetween, []any{31, 40}), false},
		{"between floats", Attr("score", webhook.OpBetween, []any{9.25, 9.75}), true},
		{"between strings", Attr("name", webhook.OpBetween, []any{"M", "N"}), true},
		{"between, a numeric string", Attr("s10", webhook.OpBetween, []any{1, 20}), true},
		{"between other type", Attr("name", webhook.OpBetween, []any{1, 20}), false},
		{"in", Attr("plan", webhook.OpIn, []any{"silver", "gold"}), true},
		{"in not", Attr("plan", webhook.OpIn, []any{"silver", "bronze"}), false},
		{"in numbers", Attr("age", webhook.OpIn, []any{29, 30}), true},
		{"in strings of numbers", Attr("age", webhook.OpIn, []any{"30"}), false},
		{"in mixed", Attr("age", webhook.OpIn, []any{"x", 30, true}), true},

		{"before", Attr("signup", webhook.OpBefore, "2026-11-21T00:00:00Z"), true},
		{"after", Attr("signup", webhook.OpAfter, "2026-11-21T00:00:00Z"), false},
		{"time eq across zones", Attr("signup", webhook.OpEq, "2026-11-20T10:00:00+01:00"), true},
		{"time gt across zones", Attr("signup", webhook.OpGt, "2026-11-20T14:44:00+05:45"), true},
		{"time lt in Kathmandu", Attr("signup", webhook.OpLt, "2026-11-20T14:45:00+05:45"), false},
		{"time lte in Kathmandu", Attr("signup", webhook.OpLte, "2026-11-20T14:45:00+05:45"), true},
		{"time before as a plain string", Attr("name", webhook.OpBefore, "2026-11-21T00:00:00Z"), false},
		{"within_last at the edge", Attr("signup", webhook.OpWithinLast, "3d"), true},
		{"within_last short of the edge", Attr("signup", webhook.OpWithinLast, "71h59m59s"), false},
		{"within_last a Go duration", Attr("signup", webhook.OpWithinLast, 72*time.Hour), true},
		{"older_than a Go duration", Field("created_at", webhook.OpOlderThan, 47*time.Hour), true},
		{"first older than a Go duration", webhook.EventStat("purchase", webhook.AggFirst, "", 0, webhook.OpOlderThan, 29*days), true},
		{"older_than at the edge", Attr("signup", webhook.OpOlderThan, "3d"), false},
		{"older_than", Attr("signup", webhook.OpOlderThan, webhook.Duration(71*time.Hour)), true},
		{"within_last at the edge in Kathmandu", Attr("seen_ktm", webhook.OpWithinLast, "3d"), true},
		{"within_last past the edge in Kathmandu", Attr("seen_ktm", webhook.OpWithinLast, "71h59m"), false},
		{"within_last a local time that is now", Attr("seen_lhi", webhook.OpWithinLast, "1s"), true},
		{"after now in Lord Howe", Attr("seen_lhi", webhook.OpAfter, "2026-11-23T09:00:00Z"), false},
		{"within_last not a time", Attr("name", webhook.OpWithinLast, "3d"), false},
		{"within_last missing", Attr("nope", webhook.OpWithinLast, "3d"), false},

		{"id in", Field("id", webhook.OpIn, []any{"u-0", "u-1"}), true},
		{"id not in", Field("id", webhook.OpIn, []any{"u-0"}), false},
		{"email", Field("email", webhook.OpStartsWith, "mary@"), true},
		{"test user", Field("test", webhook.OpEq, true), true},
		{"country", Field("country", webhook.OpEq, "DE"), true},
		{"country in", Field("country", webhook.OpIn, []any{"FR", "AT"}), false},
		{"region", Field("region", webhook.OpEq, "BE"), true},
		{"city", Field("city", webhook.OpEq, "Berlin"), true},
		{"locale", Field("locale", webhook.OpEq, "de-DE"), true},
		{"language", Field("language", webhook.OpEq, "de"), true},
		{"language not", Field("language", webhook.OpEq, "en"), false},
		{"time zone", Field("time_zone", webhook.OpEq, "Europe/Berlin"), true},
		{"created within", Field("created_at", webhook.OpWithinLast, "2d"), true},
		{"created within less", Field("created_at", webhook.OpWithinLast, "47h"), false},
		{"created before", Field("created_at", webhook.OpBefore, "2026-11-21T09:00:01Z"), true},
		{"last active within", Field("last_active", webhook.OpWithinLast, "1h"), true},
		{"last active within less", Field("last_active", webhook.OpWithinLast, "59m"), false},

		{"did at least 4 in 30d", webhook.Did("purchase", month, webhook.OpGte, 4), true},
		{"did exactly 4 in 30d", webhook.Did("purchase", month, webhook.OpEq, 4), true},
		{"did at least 5 in 30d", webhook.Did("purchase", month, webhook.OpGte, 5), false},
		{"did at most 3 in 30d less 1s", webhook.Did("purchase", month-time.Second, webhook.OpLte, 3), true},
		{"did exactly 1 in 0s", webhook.Did("purchase", time.Nanosecond, webhook.OpEq, 1), true},
		{"did 4 ever, not the future one", webhook.Did("purchase", 0, webhook.OpEq, 4), true},
		{"never did", webhook.NeverDid("signup"), true},
		{"never did purchase", webhook.NeverDid("purchase"), false},
		{"did where", webhook.Did("purchase", month, webhook.OpEq, 1).WhereParam("currency", webhook.OpEq, "EUR"), true},
		{"did where gt", webhook.Did("purchase", month, webhook.OpEq, 2).WhereParam("amount", webhook.OpGt, 10), true},
		{"did where in", webhook.Did("purchase", 0, webhook.OpEq, 3).WhereParam("currency", webhook.OpIn, []any{"USD", "EUR"}), true},
		{"did where missing", webhook.Did("purchase", 0, webhook.OpEq, 1).WhereParam("amount", webhook.OpEq, "lots"), true},
		{"sum", webhook.EventStat("purchase", webhook.AggSum, "amount", month, webhook.OpEq, 125.5), true},
		{"sum 10d", webhook.EventStat("purchase", webhook.AggSum, "amount", 10*days, webhook.OpEq, 25.5), true},
		{"sum of nothing", webhook.EventStat("signup", webhook.AggSum, "amount", month, webhook.OpEq, 0), true},
		{"sum counts numeric strings", webhook.EventStat("tip", webhook.AggSum, "amount", month, webhook.OpEq, 12.5), true},
		{"avg", webhook.EventStat("purchase", webhook.AggAvg, "amount", month, webhook.OpBetween, []any{41.83, 41.84}), true},
		{"avg of nothing", webhook.EventStat("signup", webhook.AggAvg, "amount", month, webhook.OpExists, nil), false},
		{"avg of nothing not_exists", webhook.EventStat("signup", webhook.AggAvg, "amount", month, webhook.OpNotExists, nil), true},
		{"avg of nothing lt", webhook.EventStat("signup", webhook.AggAvg, "amount", month, webhook.OpLt, 1), false},
		{"min", webhook.EventStat("purchase", webhook.AggMin, "amount", month, webhook.OpEq, 5.5), true},
		{"max", webhook.EventStat("purchase", webhook.AggMax, "amount", month, webhook.OpEq, 100), true},
		{"max without the edge", webhook.EventStat("purchase", webhook.AggMax, "amount", month-1, webhook.OpEq, 20), true},
		{"first", webhook.EventStat("purchase", webhook.AggFirst, "", 0, webhook.OpEq, "2026-10-24T09:00:00Z"), true},
		{"first before", webhook.EventStat("purchase", webhook.AggFirst, "", 0, webhook.OpBefore, "2026-10-25T00:00:00Z"), true},
		{"first older than", webhook.EventStat("purchase", webhook.AggFirst, "", 0, webhook.OpOlderThan, "29d"), true},
		{"last within", webhook.EventStat("purchase", webhook.AggLast, "", 0, webhook.OpWithinLast, "1m"), true},
		{"last after", webhook.EventStat("purchase", webhook.AggLast, "", 0, webhook.OpAfter, "2026-11-23T09:00:00Z"), false},
		{"last in window", webhook.EventStat("purchase", webhook.AggLast, "", 5*days, webhook.OpEq, "2026-11-23T09:00:00Z"), true},
		{"first of nothing", webhook.EventStat("signup", webhook.AggFirst, "", 0, webhook.OpExists, nil), false},
		{"ever did", webhook.EventStat("purchase", webhook.AggFirst, "", 0, webhook.OpExists, nil), true},

		{"bucket", webhook.Audience{Criterion: webhook.Criterion{Bucket: "s", Op: webhook.OpEq, Value: webhook.BucketOf("s", "u-1")}}, true},
		{"bucket range", webhook.InBucket("s", webhook.BucketOf("s", "u-1"), webhook.BucketOf("s", "u-1")+1), true},
		{"bucket other salt", webhook.Audience{Criterion: webhook.Criterion{Bucket: "t", Op: webhook.OpEq, Value: webhook.BucketOf("s", "u-1")}}, webhook.BucketOf("t", "u-1") == webhook.BucketOf("s", "u-1")},

		{"all", webhook.All(Attr("plan", webhook.OpEq, "gold"), Field("country", webhook.OpEq, "DE")), true},
		{"all one fails", webhook.All(Attr("plan", webhook.OpEq, "gold"), Field("country", webhook.OpEq, "FR")), false},
		{"any", webhook.Any(Attr("plan", webhook.OpEq, "silver"), Field("country", webhook.OpEq, "DE")), true},
		{"any none", webhook.Any(Attr("plan", webhook.OpEq, "silver"), Field("country", webhook.OpEq, "FR")), false},
		{"not", webhook.Not(Attr("plan", webhook.OpEq, "gold")), false},
		{"not of a mismatch", webhook.Not(Attr("name", webhook.OpEq, 10)), true},
		{"not not not", webhook.Not(webhook.Not(webhook.Not(Attr("plan", webhook.OpEq, "gold")))), false},
		{"nested", webhook.All(
			Attr("plan", webhook.OpEq, "gold"),
			webhook.Any(Attr("age", webhook.OpLt, 18), webhook.Not(Attr("vip", webhook.OpEq, false))),
			webhook.Not(webhook.Any(webhook.NeverDid("purchase"), Field("test", webhook.OpEq, false))),
		), true},
		{"nested fails deep", webhook.All(
			Attr("plan", webhook.OpEq, "gold"),
			webhook.Any(Attr("age", webhook.OpLt, 18), webhook.All(Attr("vip", webhook.OpEq, true), webhook.Did("purchase", month, webhook.OpGt, 4))),
		), false},
		{"node with its own criterion and children", webhook.Audience{
			All:       []webhook.Audience{Attr("plan", webhook.OpEq, "gold")},
			Criterion: webhook.Criterion{Attr: "age", Op: webhook.OpGt, Value: 40},
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.size(t, tt.a) == 1; got != tt.want {
				t.Errorf("%s matches Mary: %v, want %v", mustJSON(t, tt.a), got, tt.want)
			}
		})
	}
}

// The language field is the locale's part before '-' or '_', lower-cased.
func TestAudienceLanguage(t *testing.T) {
	p := newPopulation(t,
		webhook.User{ID: "pt", Locale: "PT_br"}, webhook.User{ID: "de", Locale: "de-AT"},
		webhook.User{ID: "en", Locale: "en"}, webhook.User{ID: "none"})
	for _, tt := range []struct {
		lang string
		want int
	}{{"pt", 1}, {"de", 1}, {"en", 1}, {"PT", 0}, {"pt_br", 0}} {
		if got := p.size(t, webhook.UserField("language", webhook.OpEq, tt.lang)); got != tt.want {
			t.Errorf("language eq %q matches %d users, want %d", tt.lang, got, tt.want)
		}
	}
}

func TestAudienceMissingFields(t *testing.T) {
	p := newPopulation(t, webhook.User{ID: "bare"})
	for _, a := range []webhook.Audience{
		webhook.UserField("country", webhook.OpExists, nil),
		webhook.UserField("country", webhook.OpNe, "DE"),
		webhook.UserField("language", webhook.OpEq, ""),
		webhook.UserField("test", webhook.OpEq, true),
		webhook.UserField("created_at", webhook.OpWithinLast, "1000d"),
		webhook.UserField("last_active", webhook.OpOlderThan, "1d"),
		webhook.Attr("plan", webhook.OpNe, "gold"),
	} {
		if n := p.size(t, a); n != 0 {
			t.Errorf("%s matches a user with no fields", mustJSON(t, a))
		}
	}
	for _, a := range []webhook.Audience{
		webhook.UserField("country", webhook.OpNotExists, nil),
		webhook.UserField("test", webhook.OpEq, false),
		webhook.UserField("time_zone", webhook.OpEmpty, nil),
		webhook.NeverDid("anything"),
	} {
		if n := p.size(t, a); n != 1 {
			t.Errorf("%s does not match a user with no fields", mustJSON(t, a))
		}
	}
}

func TestBucketIsStableAndUniform(t *testing.T) {
	// The documented formula, computed independently: it must not change between versions.
	for _, tt := range []struct{ salt, id string }{{"q4-holdout", "u-1"}, {"", ""}, {"spring", "user-99999"}} {
		sum := sha256.Sum256([]byte(tt.salt + "\x00" + tt.id))
		want := int(binary.BigEndian.Uint64(sum[:8]) % 1000)
		if got := webhook.BucketOf(tt.salt, tt.id); got != want {
			t.Errorf("BucketOf(%q, %q) = %d, want %d", tt.salt, tt.id, got, want)
		}
	}
	// Values pinned when the formula was written, so a change to it shows.
	for _, tt := range []struct {
		salt, id string
		want     int
	}{{"q4-holdout", "u-1", pinnedBucket1}, {"spring", "user-99999", pinnedBucket2}} {
		if got := webhook.BucketOf(tt.salt, tt.id); got != tt.want {
			t.Errorf("BucketOf(%q, %q) = %d, want %d as in every earlier version", tt.salt, tt.id, got, tt.want)
		}
	}
	const users = 100_000
	var deciles [10]int
	sample := 0
	for i := range users {
		b := webhook.BucketOf("spring", fmt.Sprintf("user-%d", i))
		if b < 0 || b > 999 {
			t.Fatalf("bucket %d out of range", b)
		}
		deciles[b/100]++
		if b < 100 {
			sample++
		}
	}
	for d, n := range deciles {
		if diff := n - users/10; diff < -users/100 || diff > users/100 {
			t.Errorf("buckets %d..%d hold %d of %d users, more than 1%% off %d", d*100, d*100+99, n, users, users/10)
		}
	}
	if sample != deciles[0] {
		t.Errorf("sample %d != first decile %d", sample, deciles[0])
	}
}

func TestBucketSampleDoesNotMoveWithTheAudience(t *testing.T) {
	var users []webhook.User
	for i := range 2000 {
		plan := "free"
		if i%3 == 0 {
			plan = "gold"
		}
		users = append(users, webhook.User{ID: fmt.Sprintf("user-%04d", i), Attributes: webhook.Map{"plan": plan}})
	}
	p := newPopulation(t, users...)
	holdout := webhook.InBucket("q4", 0, 100)
	gold := webhook.Attr("plan", webhook.OpEq, "gold")
	inHoldout := p.size(t, holdout)
	goldHoldout := p.size(t, webhook.All(gold, holdout))
	goldSent := p.size(t, webhook.All(gold, webhook.Not(holdout)))
	if goldHoldout+goldSent != p.size(t, gold) {
		t.Errorf("gold holdout %d + gold sent %d != gold", goldHoldout, goldSent)
	}
	want := 0
	for _, u := range users {
		if webhook.BucketOf("q4", u.ID) < 100 {
			want++
		}
	}
	if inHoldout != want || want < 150 || want > 250 {
		t.Errorf("holdout has %d users, want %d (about 200)", inHoldout, want)
	}
}

// largeAudience returns an audience with every kind of criterion, n times over.
func largeAudience(n int) webhook.Audience {
	var all []webhook.Audience
	for i := range n {
		all = append(all, webhook.Any(
			webhook.Attr(fmt.Sprintf("a%d", i), webhook.OpIn, []any{int64(i), "x", 2.5, true, "2026-01-02T03:04:05Z"}),
			webhook.Attr("score", webhook.OpBetween, []any{int64(-i), int64(i)}),
			webhook.Not(webhook.UserField("country", webhook.OpEq, "DE")),
			webhook.Audience{Criterion: webhook.Criterion{Event: "purchase", Agg: webhook.AggSum, Param: "amount",
				Within: webhook.Duration(time.Duration(i+1) * days), Op: webhook.OpGte, Value: int64(i),
				Where: &webhook.Condition{Key: "currency", Op: webhook.OpNe, Value: "USD"}}},
			webhook.Audience{Criterion: webhook.Criterion{Event: "open", Agg: webhook.AggLast, Within: webhook.Duration(90 * time.Minute),
				Op: webhook.OpWithinLast, Value: "36h"}},
			webhook.Audience{Criterion: webhook.Criterion{Bucket: fmt.Sprintf("salt-%d", i), Op: webhook.OpLt, Value: int64(500)}},
			webhook.Attr("name", webhook.OpStartsWith, "M"),
			webhook.Attr("obj", webhook.OpEmpty, nil),
		))
	}
	return webhook.All(all...)
}

func TestAudienceJSONRoundTrip(t *testing.T) {
	a := largeAudience(80)
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back webhook.Audience
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, back); diff != "" {
		t.Errorf("JSON round trip changed the audience (-before +after):\n%s", diff)
	}
	b2, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(b2) {
		t.Errorf("JSON round trip changed the JSON")
	}

	// A message keeps its audience through JSON, and the zero audience is left out.
	m := webhook.Message{ID: "m", URL: "https://x.example.com/", Audience: webhook.Did("purchase", 30*days, webhook.OpGte, 2)}
	mb, _ := json.Marshal(m)
	if want := `"audience":{"event":"purchase","within":"30d","op":"gte","value":2}`; !strings.Contains(string(mb), want) {
		t.Errorf("message JSON %s does not contain %s", mb, want)
	}
	// Durations keep their meaning; a bare time.Duration, which JSON would write as a number, is refused.
	if got, want := mustJSON(t, webhook.Attr("seen", webhook.OpWithinLast, 36*time.Hour)), `{"attr":"seen","op":"within_last","value":"36h0m0s"}`; got != want {
		t.Errorf("JSON of a Go duration = %s, want %s", got, want)
	}
	raw := webhook.Audience{Criterion: webhook.Criterion{Attr: "seen", Op: webhook.OpWithinLast, Value: time.Hour}}
	if err := raw.Validate(); err == nil || !strings.Contains(err.Error(), "use webhook.Duration(1h0m0s)") {
		t.Errorf("Validate of a time.Duration value = %v, want advice to use webhook.Duration", err)
	}
	mb, _ = json.Marshal(webhook.Message{ID: "m"})
	if strings.Contains(string(mb), "audience") {
		t.Errorf("message JSON %s has the zero audience", mb)
	}
}

func TestAudienceInvalid(t *testing.T) {
	var b strings.Builder
	for _, in := range []string{
		`{"attr": "plan", "op": "equals", "value": "gold"}`,
		`{"attr": "plan", "value": "gold"}`,
		`{"attr": "plan", "op": "eq"}`,
		`{"attr": "plan", "op": "eq", "value": ["gold"]}`,
		`{"attr": "plan", "op": "exists", "value": 1}`,
		`{"attr": "age", "op": "gt", "value": true}`,
		`{"attr": "age", "op": "between", "value": [10]}`,
		`{"attr": "age", "op": "between", "value": [10, "z"]}`,
		`{"attr": "age", "op": "between", "value": [20, 10]}`,
		`{"attr": "age", "op": "in", "value": []}`,
		`{"attr": "age", "op": "in", "value": [1, {"a": 1}]}`,
		`{"attr": "seen", "op": "before", "value": "yesterday"}`,
		`{"attr": "seen", "op": "within_last", "value": "7 days"}`,
		`{"attr": "seen", "op": "within_last", "value": 7}`,
		`{"attr": "seen", "op": "older_than", "value": "-1d"}`,
		`{"attr": "name", "op": "starts_with", "value": 1}`,
		`{"attr": "plan", "within": "1d", "op": "exists"}`,
		`{"attr": "plan", "event": "x", "op": "exists"}`,
		`{"op": "eq", "value": 1}`,
		`{"field": "planet", "op": "eq", "value": "x"}`,
		`{"bucket": "s", "op": "eq", "value": "x"}`,
		`{"bucket": "s", "op": "contains", "value": 1}`,
		`{"event": "buy", "within": "-30d", "op": "gte", "value": 2}`,
		`{"event": "buy", "agg": "median", "param": "amount", "op": "gte", "value": 2}`,
		`{"event": "buy", "agg": "sum", "op": "gte", "value": 2}`,
		`{"event": "buy", "agg": "count", "param": "amount", "op": "gte", "value": 2}`,
		`{"event": "buy", "op": "eq", "value": "often"}`,
		`{"event": "buy", "agg": "last", "op": "gt", "value": 3}`,
		`{"event": "buy", "op": "gte", "value": 1, "where": {"op": "eq", "value": 1}}`,
		`{"event": "buy", "op": "gte", "value": 1, "where": {"key": "k", "op": "within_last", "value": "1d"}}`,
		`{"all": [{"attr": "a", "op": "exists"}, {}, {"any": [{"not": {"attr": "b", "op": "??"}}]}]}`,
		`{"all": [{"attr": "a", "op": "exists"}, {"attr": "b", "op": "eq", "value": 1}, {"attr": "c", "op": "gte"}]}`,
		`{"atr": "plan", "op": "exists"}`,
		`{"event": "buy", "within": 30, "op": "gte", "value": 1}`,
		`{"attr": "x", "op": "eq", "value": 1e999}`,
		`[1]`,
		strings.Repeat(`{"not":`, 18) + `{"attr": "a", "op": "exists"}` + strings.Repeat(`}`, 18),
		`{"attr": "a", "op": "in", "value": [` + strings.Repeat(`0, `, 10000) + `0]}`,
		`{"all": [` + strings.Repeat(`{"attr": "a", "op": "exists"}, `, 1001) + `{"attr": "a", "op": "exists"}]}`,
	} {
		var a webhook.Audience
		err := json.Unmarshal([]byte(in), &a)
		short := in
		if len(short) > 100 {
			short = short[:100] + "..."
		}
		if err == nil {
			err = a.Validate()
			var ve *webhook.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, webhook.ErrInvalid) {
				t.Errorf("%s: Validate() = %v, want a *ValidationError", short, err)
				continue
			}
		}
		fmt.Fprintf(&b, "%s\n\t%v\n", short, err)
	}
	golden(t, "audience_invalid.golden", b.String())

	// SaveMessage names the path within the message.
	p := newPopulation(t)
	m := &webhook.Message{ID: "m", URL: "https://x.example.com/", Audience: webhook.All(
		webhook.Attr("a", webhook.OpExists, nil), webhook.Attr("b", webhook.OpExists, nil), webhook.Attr("c", "is", nil),
	)}
	err := p.sender.SaveMessage(p.ctx, m)
	if want := `audience.all[2].op: unknown operator "is"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("SaveMessage = %v, want an error containing %q", err, want)
	}
	if _, err := p.sender.AudienceSize(p.ctx, webhook.Attr("c", "is", nil)); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("AudienceSize(invalid) = %v, want ErrInvalid", err)
	}
}

func TestDurationJSON(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		json string
	}{{30 * days, `"30d"`}, {36 * time.Hour, `"36h0m0s"`}, {90 * time.Minute, `"1h30m0s"`}, {0, `"0s"`}} {
		b, err := json.Marshal(webhook.Duration(tt.d))
		if err != nil || string(b) != tt.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.d, b, err, tt.json)
		}
		var back webhook.Duration
		if err := json.Unmarshal(b, &back); err != nil || time.Duration(back) != tt.d {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, time.Duration(back), err, tt.d)
		}
	}
	for _, bad := range []string{`"1w"`, `"d"`, `"9999999999d"`, `30`} {
		var d webhook.Duration
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", bad, time.Duration(d))
		}
	}
}

// Buckets pinned when BucketOf was written.
const pinnedBucket1, pinnedBucket2 = 75, 691

func TestConditionMatch(t *testing.T) {
	c := &webhook.Condition{Key: "n", Op: webhook.OpGte, Value: 3}
	for _, tc := range []struct {
		m    webhook.Map
		want bool
	}{
		{webhook.Map{"n": 3}, true},
		{webhook.Map{"n": 2.5}, false},
		{webhook.Map{"n": "3"}, true}, // a numeric string compares as a number
		{webhook.Map{"n": "three"}, false},
		{webhook.Map{"n": "3e2"}, true},
		{webhook.Map{"n": "3e002"}, true},
		{webhook.Map{"n": "3e0002"}, false}, // an exponent of more than 3 digits is not a number
		{webhook.Map{}, false},
	} {
		if got := c.Match(tc.m); got != tc.want {
			t.Errorf("Match(%v) = %v, want %v", tc.m, got, tc.want)
		}
	}
	c.Value = 100
	if c.Match(webhook.Map{"n": 3}) {
		t.Error("Match does not see a change to the Condition")
	}
	invalid := &webhook.Condition{Key: "n", Op: webhook.OpWithinLast, Value: "1h"}
	if invalid.Match(webhook.Map{"n": 3}) {
		t.Error("an invalid Condition matched")
	}
	var none *webhook.Condition
	if !none.Match(webhook.Map{"n": 3}) {
		t.Error("a nil Condition did not match")
	}
}
