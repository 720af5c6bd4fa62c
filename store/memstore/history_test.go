package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

func TestEventStats(t *testing.T) {
	testEventStats(t, func() webhook.Store { return memstore.New() })
}

// testEventStats checks the contract of [webhook.EventHistoryStore] on stores made by
// newStore. It belongs in the conformance suite (store/storetest).
func testEventStats(t *testing.T, newStore func() webhook.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	add := func(t *testing.T, s webhook.Store, user, name string, at time.Duration, params webhook.Map) {
		t.Helper()
		e := webhook.Event{ID: user + name + at.String(), UserID: user, Name: name, Time: t0.Add(at), Params: params}
		if err := s.AddEvent(ctx, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	stats := func(t *testing.T, s webhook.Store, q webhook.EventQuery) webhook.EventStats {
		t.Helper()
		st, err := s.EventStats(ctx, q)
		if err != nil {
			t.Fatalf("EventStats(%+v) = %v", q, err)
		}
		return st
	}
	check := func(t *testing.T, rule string, got, want webhook.EventStats) {
		t.Helper()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", rule, diff)
		}
	}
	// history is a store holding u1's purchases at -3h, -2h (twice), -1h and 0, someone
	// else's purchase and one of u1's other events.
	history := func(t *testing.T) webhook.Store {
		s := newStore()
		add(t, s, "u1", "buy", 0, webhook.Map{"amount": int64(5), "currency": "EUR"})
		add(t, s, "u1", "buy", -2*time.Hour, webhook.Map{"amount": 2.5, "currency": "USD"})
		add(t, s, "u1", "buy", -3*time.Hour, webhook.Map{"amount": "ten", "currency": "EUR"})
		add(t, s, "u1", "buy", -time.Hour, webhook.Map{"currency": "EUR"})
		add(t, s, "u1", "buy", -2*time.Hour+0, webhook.Map{"amount": int64(-1), "currency": "GBP", "x": "y"})
		add(t, s, "u2", "buy", 0, webhook.Map{"amount": int64(100)})
		add(t, s, "u1", "open", 0, nil)
		return s
	}

	t.Run("unknown user or name gives zero stats", func(t *testing.T) {
		s := history(t)
		check(t, "unknown user", stats(t, s, webhook.EventQuery{UserID: "nobody", Name: "buy", Param: "amount"}), webhook.EventStats{})
		check(t, "unknown name", stats(t, s, webhook.EventQuery{UserID: "u1", Name: "sell"}), webhook.EventStats{})
	})
	t.Run("zero bounds are open and other users and names are not counted", func(t *testing.T) {
		got := stats(t, history(t), webhook.EventQuery{UserID: "u1", Name: "buy"})
		check(t, "whole history", got, webhook.EventStats{Count: 5, First: t0.Add(-3 * time.Hour), Last: t0})
	})
	t.Run("both window ends are included", func(t *testing.T) {
		s := history(t)
		got := stats(t, s, webhook.EventQuery{UserID: "u1", Name: "buy", Since: t0.Add(-2 * time.Hour), Until: t0.Add(-time.Hour)})
		check(t, "[-2h, -1h]", got, webhook.EventStats{Count: 3, First: t0.Add(-2 * time.Hour), Last: t0.Add(-time.Hour)})
		got = stats(t, s, webhook.EventQuery{UserID: "u1", Name: "buy", Since: t0.Add(-2*time.Hour + 1), Until: t0.Add(-1)})
		check(t, "(-2h, 0)", got, webhook.EventStats{Count: 1, First: t0.Add(-time.Hour), Last: t0.Add(-time.Hour)})
		got = stats(t, s, webhook.EventQuery{UserID: "u1", Name: "buy", Since: t0.Add(1)})
		check(t, "after the last", got, webhook.EventStats{})
		got = stats(t, s, webhook.EventQuery{UserID: "u1", Name: "buy", Until: t0.Add(-3*time.Hour - 1)})
		check(t, "before the first", got, webhook.EventStats{})
	})
	t.Run("param aggregates only numbers", func(t *testing.T) {
		got := stats(t, history(t), webhook.EventQuery{UserID: "u1", Name: "buy", Param: "amount"})
		check(t, "amount", got, webhook.EventStats{Count: 5, First: t0.Add(-3 * time.Hour), Last: t0, Numbers: 3, Sum: 6.5, Min: -1, Max: 5})
		got = stats(t, history(t), webhook.EventQuery{UserID: "u1", Name: "buy", Param: "nope"})
		check(t, "a param no event has", got, webhook.EventStats{Count: 5, First: t0.Add(-3 * time.Hour), Last: t0})
	})
	t.Run("where selects by one parameter", func(t *testing.T) {
		s := history(t)
		for _, tt := range []struct {
			where webhook.Condition
			want  webhook.EventStats
		}{
			{webhook.Condition{Key: "currency", Op: webhook.OpEq, Value: "EUR"},
				webhook.EventStats{Count: 3, First: t0.Add(-3 * time.Hour), Last: t0, Numbers: 1, Sum: 5, Min: 5, Max: 5}},
			{webhook.Condition{Key: "amount", Op: webhook.OpGt, Value: 0},
				webhook.EventStats{Count: 2, First: t0.Add(-2 * time.Hour), Last: t0, Numbers: 2, Sum: 7.5, Min: 2.5, Max: 5}},
			{webhook.Condition{Key: "amount", Op: webhook.OpLt, Value: "z"}, // only the string "ten"
				webhook.EventStats{Count: 1, First: t0.Add(-3 * time.Hour), Last: t0.Add(-3 * time.Hour)}},
			{webhook.Condition{Key: "currency", Op: webhook.OpIn, Value: []any{"USD", "GBP"}},
				webhook.EventStats{Count: 2, First: t0.Add(-2 * time.Hour), Last: t0.Add(-2 * time.Hour), Numbers: 2, Sum: 1.5, Min: -1, Max: 2.5}},
			{webhook.Condition{Key: "x", Op: webhook.OpExists},
				webhook.EventStats{Count: 1, First: t0.Add(-2 * time.Hour), Last: t0.Add(-2 * time.Hour), Numbers: 1, Sum: -1, Min: -1, Max: -1}},
			{webhook.Condition{Key: "amount", Op: webhook.OpNotExists},
				webhook.EventStats{Count: 1, First: t0.Add(-time.Hour), Last: t0.Add(-time.Hour)}},
		} {
			got := stats(t, s, webhook.EventQuery{UserID: "u1", Name: "buy", Where: &tt.where, Param: "amount"})
			check(t, "where "+string(tt.where.Op)+" on "+tt.where.Key, got, tt.want)
		}
	})
	t.Run("events added out of time order", func(t *testing.T) {
		s := newStore()
		for _, at := range []time.Duration{5, 1, 3, 1, 9, 0} {
			add(t, s, "u", "e", at*time.Minute, webhook.Map{"n": int64(at)})
		}
		got := stats(t, s, webhook.EventQuery{UserID: "u", Name: "e", Since: t0.Add(time.Minute), Until: t0.Add(5 * time.Minute), Param: "n"})
		check(t, "[1m, 5m]", got, webhook.EventStats{Count: 4, First: t0.Add(time.Minute), Last: t0.Add(5 * time.Minute), Numbers: 4, Sum: 10, Min: 1, Max: 5})
	})
	t.Run("a cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := history(t).EventStats(ctx, webhook.EventQuery{UserID: "u1", Name: "buy"}); !errors.Is(err, context.Canceled) {
			t.Errorf("EventStats with a cancelled context = %v, want context.Canceled", err)
		}
	})
}
