package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var eventRules = []rule{
	{"EnqueueSavesEventsThatEventsReturns", testEventRoundTrip},
	{"EnqueueSavesAnEventOncePerUserAndID", testEventDedupe},
	{"EventsSelectsTheUsersEventsOfTheNames", testEventsNames},
	{"EventsWindowIncludesBothBoundsAndZeroIsNoBound", testEventsWindow},
	{"EventsAreInTimeOrderThenInSaveOrder", testEventsOrder},
}

// event returns user u's event id of the given name at epoch plus d.
func event(id, u, name string, d time.Duration) webhook.Event {
	return webhook.Event{ID: id, UserID: u, Name: name, Time: at(d), Params: webhook.Map{"id": id}}
}

// saveEvents saves events with one Enqueue without jobs.
func saveEvents(t *testing.T, s webhook.Store, events ...webhook.Event) {
	t.Helper()
	_, err := s.Enqueue(t.Context(), webhook.EnqueueParams{Events: events})
	must(t, "Enqueue", err)
}

// events returns the events q selects.
func events(t *testing.T, s webhook.Store, q webhook.EventQuery) []webhook.Event {
	t.Helper()
	es, err := s.Events(t.Context(), q)
	must(t, "Events", err)
	return es
}

// eventIDs returns the IDs of events.
func eventIDs(events []webhook.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func testEventRoundTrip(t *testing.T, s webhook.Store) {
	want := []webhook.Event{
		{ID: "e1", UserID: "u1", Name: "purchase", Time: at(-time.Hour),
			Params: webhook.Map{"order": "o-1", "total": 9.5, "n": int64(3), "gift": false, "note": nil,
				"items": []any{webhook.Map{"sku": "a"}, "b"}}},
		{ID: "e2", UserID: "u1", Name: "open", Time: at(time.Minute + µs)},
	}
	saveEvents(t, s, want...)
	if diff := cmp.Diff(want, events(t, s, webhook.EventQuery{UserID: "u1"}), diffOpts...); diff != "" {
		t.Errorf("Events must return the events Enqueue saved (-saved +returned):\n%s", diff)
	}
}

func testEventDedupe(t *testing.T, s webhook.Store) {
	first := event("e1", "u1", "buy", 0)
	again := event("e1", "u1", "buy", 0)
	again.Params = webhook.Map{"id": "again"}
	otherUser := event("e1", "u2", "buy", 0)
	saveEvents(t, s, first, again, otherUser)
	saveEvents(t, s, again, event("e1", "u1", "open", time.Second), event("e2", "u1", "buy", time.Second))
	if diff := cmp.Diff([]webhook.Event{first, event("e2", "u1", "buy", time.Second)}, events(t, s, webhook.EventQuery{UserID: "u1"}), diffOpts...); diff != "" {
		t.Errorf("Enqueue must save an event whose user and ID it holds, or saved earlier in the call, no second time: the first one stays (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]webhook.Event{otherUser}, events(t, s, webhook.EventQuery{UserID: "u2"}), diffOpts...); diff != "" {
		t.Errorf("Enqueue must save an event of another user with the same ID (-want +got):\n%s", diff)
	}
}

func testEventsNames(t *testing.T, s webhook.Store) {
	saveEvents(t, s, event("1", "u1", "buy", 0), event("2", "u1", "open", time.Second), event("3", "u2", "buy", 0),
		event("4", "u1", "view", 2*time.Second), event("5", "u1", "buy", 3*time.Second), event("6", "u10", "buy", 0))
	for _, tt := range []struct {
		q    webhook.EventQuery
		want []string
	}{
		{webhook.EventQuery{UserID: "u1"}, []string{"1", "2", "4", "5"}},
		{webhook.EventQuery{UserID: "u1", Names: []string{"buy"}}, []string{"1", "5"}},
		{webhook.EventQuery{UserID: "u1", Names: []string{"view", "buy"}}, []string{"1", "4", "5"}},
		{webhook.EventQuery{UserID: "u1", Names: []string{"sell"}}, nil},
		{webhook.EventQuery{UserID: "u2"}, []string{"3"}},
		{webhook.EventQuery{UserID: "nobody"}, nil},
		{webhook.EventQuery{UserID: "nobody", Names: []string{"buy"}}, nil},
	} {
		if diff := cmp.Diff(tt.want, eventIDs(events(t, s, tt.q)), diffOpts...); diff != "" {
			t.Errorf("Events(%+v) must return that user's events of those names, of any name if none is given (-want +got):\n%s", tt.q, diff)
		}
	}
}

func testEventsWindow(t *testing.T, s webhook.Store) {
	for i, d := range []time.Duration{-3 * time.Hour, -2 * time.Hour, -time.Hour, 0} {
		saveEvents(t, s, event(fmt.Sprint(i), "u1", "buy", d))
	}
	for _, tt := range []struct {
		since, until time.Time
		want         []string
	}{
		{at(-2 * time.Hour), at(-time.Hour), []string{"1", "2"}},
		{at(-2*time.Hour + µs), at(-time.Hour - µs), nil},
		{at(-2*time.Hour + µs), at(-time.Hour), []string{"2"}},
		{time.Time{}, at(-2 * time.Hour), []string{"0", "1"}},
		{at(-time.Hour), time.Time{}, []string{"2", "3"}},
		{time.Time{}, time.Time{}, []string{"0", "1", "2", "3"}},
		{at(µs), time.Time{}, nil},
		{time.Time{}, at(-3*time.Hour - µs), nil},
		// The same instants in other locations.
		{at(-2 * time.Hour).UTC(), at(-time.Hour).In(time.FixedZone("-1000", -10*3600)), []string{"1", "2"}},
	} {
		q := webhook.EventQuery{UserID: "u1", Names: []string{"buy"}, Since: tt.since, Until: tt.until}
		if diff := cmp.Diff(tt.want, eventIDs(events(t, s, q)), diffOpts...); diff != "" {
			t.Errorf("Events(Since %v, Until %v) must return the events from Since to Until, both included, a zero bound being none (-want +got):\n%s", tt.since, tt.until, diff)
		}
	}
}

func testEventsOrder(t *testing.T, s webhook.Store) {
	// Saved out of time order, in two calls; 3, 4, 5 and 6 share a time, and of the others
	// none does.
	saveEvents(t, s, event("1", "u1", "b", 5*time.Minute), event("3", "u1", "b", time.Minute),
		event("2", "u1", "a", 2*time.Minute), event("4", "u1", "a", time.Minute))
	saveEvents(t, s, event("0", "u1", "b", 0), event("5", "u1", "b", time.Minute), event("6", "u1", "c", time.Minute))
	for _, tt := range []struct {
		names []string
		want  []string
	}{
		{nil, []string{"0", "3", "4", "5", "6", "2", "1"}},
		{[]string{"b"}, []string{"0", "3", "5", "1"}},
		{[]string{"c", "a"}, []string{"4", "6", "2"}},
	} {
		q := webhook.EventQuery{UserID: "u1", Names: tt.names}
		if diff := cmp.Diff(tt.want, eventIDs(events(t, s, q)), diffOpts...); diff != "" {
			t.Errorf("Events(Names %v) must be in Time order, events with the same Time in the order they were saved (-want +got):\n%s", tt.names, diff)
		}
	}
}
