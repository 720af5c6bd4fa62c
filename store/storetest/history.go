package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var historyRules = []rule{
	{"UnknownUserOrNameHasZeroStats", testStatsUnknown},
	{"ZeroBoundsAreOpenAndOnlyTheUsersEventsOfTheNameCount", testStatsWhole},
	{"BothWindowEndsAreIncluded", testStatsWindow},
	{"ParamAggregatesOnlyNumbers", testStatsParam},
	{"WhereSelectsAsConditionMatchDecides", testStatsWhere},
	{"EventsAddedOutOfTimeOrder", testStatsOutOfOrder},
}

// addEvent adds event id, user's event of the given name at epoch plus d, without jobs.
func addEvent(t *testing.T, s webhook.Store, id, user, name string, d time.Duration, params webhook.Map) {
	t.Helper()
	e := webhook.Event{ID: id, UserID: user, Name: name, Time: at(d), Params: params}
	must(t, "AddEvent", s.AddEvent(t.Context(), e, nil))
}

// history adds u1's "buy" events at -3h, -2h (twice), -1h and 0, u2's "buy" event and u1's
// "open" event.
func history(t *testing.T, s webhook.Store) {
	t.Helper()
	addEvent(t, s, "e1", "u1", "buy", 0, webhook.Map{"amount": int64(5), "currency": "EUR"})
	addEvent(t, s, "e2", "u1", "buy", -2*time.Hour, webhook.Map{"amount": 2.5, "currency": "USD"})
	addEvent(t, s, "e3", "u1", "buy", -3*time.Hour, webhook.Map{"amount": "ten", "currency": "EUR"})
	addEvent(t, s, "e4", "u1", "buy", -time.Hour, webhook.Map{"currency": "EUR"})
	addEvent(t, s, "e5", "u1", "buy", -2*time.Hour, webhook.Map{"amount": int64(-1), "currency": "GBP", "x": "y"})
	addEvent(t, s, "e6", "u2", "buy", 0, webhook.Map{"amount": int64(100)})
	addEvent(t, s, "e7", "u1", "open", 0, nil)
}

// checkStats fails the rule, named by rule, if the EventStats of q are not want.
func checkStats(t *testing.T, s webhook.Store, rule string, q webhook.EventQuery, want webhook.EventStats) {
	t.Helper()
	got, err := s.EventStats(t.Context(), q)
	if err != nil {
		t.Errorf("%s: EventStats(%+v) = %v", rule, q, err)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: EventStats(%+v) (-want +got):\n%s", rule, q, diff)
	}
}

func testStatsUnknown(t *testing.T, s webhook.Store) {
	history(t, s)
	checkStats(t, s, "an unknown user has zero stats", webhook.EventQuery{UserID: "nobody", Name: "buy", Param: "amount"}, webhook.EventStats{})
	checkStats(t, s, "an unknown event name has zero stats", webhook.EventQuery{UserID: "u1", Name: "sell"}, webhook.EventStats{})
}

func testStatsWhole(t *testing.T, s webhook.Store) {
	history(t, s)
	checkStats(t, s, "zero bounds select the user's whole history of the name, and no one else's",
		webhook.EventQuery{UserID: "u1", Name: "buy"}, webhook.EventStats{Count: 5, First: at(-3 * time.Hour), Last: at(0)})
}

func testStatsWindow(t *testing.T, s webhook.Store) {
	history(t, s)
	q := webhook.EventQuery{UserID: "u1", Name: "buy", Since: at(-2 * time.Hour), Until: at(-time.Hour)}
	checkStats(t, s, "Since and Until are included", q, webhook.EventStats{Count: 3, First: at(-2 * time.Hour), Last: at(-time.Hour)})
	q.Since, q.Until = at(-2*time.Hour+1), at(-1)
	checkStats(t, s, "events 1ns outside the window are not counted", q, webhook.EventStats{Count: 1, First: at(-time.Hour), Last: at(-time.Hour)})
	checkStats(t, s, "a window after the last event is empty", webhook.EventQuery{UserID: "u1", Name: "buy", Since: at(1)}, webhook.EventStats{})
	checkStats(t, s, "a window before the first event is empty", webhook.EventQuery{UserID: "u1", Name: "buy", Until: at(-3*time.Hour - 1)}, webhook.EventStats{})
}

func testStatsParam(t *testing.T, s webhook.Store) {
	history(t, s)
	checkStats(t, s, "Numbers, Sum, Min and Max are over the Param values that are numbers",
		webhook.EventQuery{UserID: "u1", Name: "buy", Param: "amount"},
		webhook.EventStats{Count: 5, First: at(-3 * time.Hour), Last: at(0), Numbers: 3, Sum: 6.5, Min: -1, Max: 5})
	checkStats(t, s, "a Param no event has leaves Numbers, Sum, Min and Max zero",
		webhook.EventQuery{UserID: "u1", Name: "buy", Param: "nope"},
		webhook.EventStats{Count: 5, First: at(-3 * time.Hour), Last: at(0)})
}

func testStatsWhere(t *testing.T, s webhook.Store) {
	history(t, s)
	for _, tt := range []struct {
		where webhook.Condition
		want  webhook.EventStats
	}{
		{webhook.Condition{Key: "currency", Op: webhook.OpEq, Value: "EUR"},
			webhook.EventStats{Count: 3, First: at(-3 * time.Hour), Last: at(0), Numbers: 1, Sum: 5, Min: 5, Max: 5}},
		{webhook.Condition{Key: "amount", Op: webhook.OpGt, Value: 0},
			webhook.EventStats{Count: 2, First: at(-2 * time.Hour), Last: at(0), Numbers: 2, Sum: 7.5, Min: 2.5, Max: 5}},
		{webhook.Condition{Key: "amount", Op: webhook.OpLt, Value: "z"}, // only the string "ten"
			webhook.EventStats{Count: 1, First: at(-3 * time.Hour), Last: at(-3 * time.Hour)}},
		{webhook.Condition{Key: "currency", Op: webhook.OpIn, Value: []any{"USD", "GBP"}},
			webhook.EventStats{Count: 2, First: at(-2 * time.Hour), Last: at(-2 * time.Hour), Numbers: 2, Sum: 1.5, Min: -1, Max: 2.5}},
		{webhook.Condition{Key: "x", Op: webhook.OpExists},
			webhook.EventStats{Count: 1, First: at(-2 * time.Hour), Last: at(-2 * time.Hour), Numbers: 1, Sum: -1, Min: -1, Max: -1}},
		{webhook.Condition{Key: "amount", Op: webhook.OpNotExists},
			webhook.EventStats{Count: 1, First: at(-time.Hour), Last: at(-time.Hour)}},
	} {
		checkStats(t, s, "Where "+string(tt.where.Op)+" on "+tt.where.Key+" selects the events whose Params it matches",
			webhook.EventQuery{UserID: "u1", Name: "buy", Where: &tt.where, Param: "amount"}, tt.want)
	}
}

func testStatsOutOfOrder(t *testing.T, s webhook.Store) {
	for i, d := range []time.Duration{5, 1, 3, 1, 9, 0} {
		addEvent(t, s, fmt.Sprint("e", i), "u", "e", d*time.Minute, webhook.Map{"n": int64(d)})
	}
	checkStats(t, s, "events added out of time order are selected by their Time",
		webhook.EventQuery{UserID: "u", Name: "e", Since: at(time.Minute), Until: at(5 * time.Minute), Param: "n"},
		webhook.EventStats{Count: 4, First: at(time.Minute), Last: at(5 * time.Minute), Numbers: 4, Sum: 10, Min: 1, Max: 5})
}
