package webhook_test

import (
	"encoding/json"
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
}
