package webhook_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

// TestIdentifyNormalizesAttributes checks the conversions that [webhook.Map] documents, on
// attributes saved with Identify and read back from the Store.
func TestIdentifyNormalizesAttributes(t *testing.T) {
	p := newPopulation(t)
	ctx, st, s := p.ctx, p.store, p.sender
	type point struct{ X, Y int }
	for _, tt := range []struct {
		name string
		in   any
		want any
	}{
		{"small unsigned", uint8(7), int64(7)},
		{"unsigned beyond int64", uint64(math.MaxUint64), float64(math.MaxUint64)},
		{"whole float", 2.0, int64(2)},
		{"fractional float", 2.5, 2.5},
		{"bytes as base64", []byte("hi"), "aGk="},
		{"time as RFC 3339", epoch.Add(500 * time.Millisecond), "2026-11-23T09:00:00.5Z"},
		{"map with string keys", map[string]int{"a": 1}, map[string]any{"a": int64(1)}},
		{"map with other keys, as JSON", map[int]string{1: "a"}, webhook.Map{"1": "a"}},
		{"struct, as JSON", point{1, 2}, webhook.Map{"X": int64(1), "Y": int64(2)}},
		{"nil slice", []string(nil), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Identify(ctx, webhook.User{ID: "u", Attributes: webhook.Map{"v": tt.in}}); err != nil {
				t.Fatal(err)
			}
			u, err := getUser(ctx, st, "u")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, u.Attributes["v"]); diff != "" {
				t.Errorf("attribute %#v saved as (-want +got):\n%s", tt.in, diff)
			}
		})
	}

	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	if err := s.Identify(ctx, webhook.User{ID: "u", Attributes: webhook.Map{"v": cyclic}}); err == nil {
		t.Errorf("Identify with a cyclic attribute = nil, want an error")
	}
}

func TestMapUnmarshalJSON(t *testing.T) {
	m := webhook.Map{"old": true}
	if err := json.Unmarshal([]byte(`{"n": 3, "f": 1.5, "l": [2.0]}`), &m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(webhook.Map{"n": int64(3), "f": 1.5, "l": []any{int64(2)}}, m); diff != "" {
		t.Errorf("Unmarshal (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`null`), &m); err != nil || m != nil {
		t.Errorf("Unmarshal(null) = %v, %v; want a nil Map", m, err)
	}
	// Whole numbers of 2^53 and more stay exact, whichever way they are written around them.
	for _, c := range []struct {
		in   string
		want any
	}{
		{`1733550000000000`, int64(1733550000000000)},
		{`9007199254740991`, int64(9007199254740991)},
		{`9007199254740993`, int64(9007199254740993)},
		{`-9007199254740993`, int64(-9007199254740993)},
		{`99999999999999999`, int64(99999999999999999)},
		{`12345678901234567890`, 1.2345678901234567e19},
		{`2.5e3`, int64(2500)},
		{`-0.25`, -0.25},
		{`{"s": "9007199254740993 \" 1e3", "n": 9007199254740993}`,
			webhook.Map{"s": `9007199254740993 " 1e3`, "n": int64(9007199254740993)}},
		{`[1, 9007199254740993.5, 1E2]`, []any{int64(1), 9007199254740994.0, int64(100)}},
	} {
		var got webhook.Map
		if err := got.UnmarshalJSON([]byte(`{"v": ` + c.in + `}`)); err != nil {
			t.Errorf("UnmarshalJSON(%s): %v", c.in, err)
			continue
		}
		if diff := cmp.Diff(webhook.Map{"v": c.want}, got); diff != "" {
			t.Errorf("UnmarshalJSON(%s) (-want +got):\n%s", c.in, diff)
		}
	}
}

// Identify merges: a second call with only some attributes keeps the others and the fields
// it does not set, as the platforms' user updates do.
func TestIdentifyMerges(t *testing.T) {
	p := newPopulation(t)
	ctx, st, s := p.ctx, p.store, p.sender
	if err := s.Identify(ctx, webhook.User{ID: "u", Email: "a@example.com", TimeZone: "Europe/Berlin",
		Attributes: webhook.Map{"plan": "gold", "age": 29}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Identify(ctx, webhook.User{ID: "u", Attributes: webhook.Map{"age": 30}}); err != nil {
		t.Fatal(err)
	}
	u, err := getUser(ctx, st, "u")
	if err != nil {
		t.Fatal(err)
	}
	want := webhook.User{ID: "u", Email: "a@example.com", TimeZone: "Europe/Berlin", CreatedAt: epoch,
		Attributes: webhook.Map{"plan": "gold", "age": int64(30)}}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("user after two Identify calls (-want +got):\n%s", diff)
	}
}

// UpdateUsers removes attributes, replaces users whole, and checks every update before
// saving any.
func TestUpdateUsers(t *testing.T) {
	p := newPopulation(t)
	ctx, st, s := p.ctx, p.store, p.sender
	if err := s.UpdateUsers(ctx, []webhook.UserUpdate{
		{User: webhook.User{ID: "a", Email: "a@example.com", Attributes: webhook.Map{"plan": "gold", "age": 29}}},
		{User: webhook.User{ID: "b", Email: "b@example.com", Attributes: webhook.Map{"plan": "free"}}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateUsers(ctx, []webhook.UserUpdate{
		{User: webhook.User{ID: "a", Attributes: webhook.Map{"age": 30}}, Unset: []string{"plan"}},
		{User: webhook.User{ID: "b", Attributes: webhook.Map{"score": 1}}, Replace: true},
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []webhook.User{
		{ID: "a", Email: "a@example.com", CreatedAt: epoch, Attributes: webhook.Map{"age": int64(30)}},
		{ID: "b", CreatedAt: epoch, Attributes: webhook.Map{"score": int64(1)}},
	} {
		got, err := getUser(ctx, st, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("user %s (-want +got):\n%s", want.ID, diff)
		}
	}
	err := s.UpdateUsers(ctx, []webhook.UserUpdate{
		{User: webhook.User{ID: "c"}},
		{User: webhook.User{TimeZone: "Mars/Olympus"}, Unset: []string{""}},
	})
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("UpdateUsers(bad) = %v, want a ValidationError", err)
	}
	var paths []string
	for _, pr := range ve.Problems {
		paths = append(paths, pr.Path)
	}
	if diff := cmp.Diff([]string{"users[1].id", "users[1].time_zone", "users[1].unset[0]"}, paths); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s", diff)
	}
	if _, err := getUser(ctx, st, "c"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("user c = %v; want nothing saved when one update is invalid", err)
	}
}
