package webhook

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// floatExact takes the one-pass path for the maps the Sender stores (its numbers whole and
// under 2^53, or with a fraction) and leaves the rest to json.Number.
func TestFloatExact(t *testing.T) {
	for in, want := range map[string]bool{
		`{"enqueued_us": 1733550000000000, "tier": "gold", "l": [1.5, -2, {"a": 0}]}`: true,
		`{"n": 9007199254740991, "f": 12345678901234567890.5}`:                        true,
		`{"s": "1e3 9007199254740993 \" 99999999999999999"}`:                          true,
		`{"n": 9007199254740992}`:                                                     false,
		`{"n": -99999999999999999}`:                                                   false,
		`{"n": 1e3}`:                                                                  false,
		`[0.5E-2]`:                                                                    false,
	} {
		if got := floatExact([]byte(in)); got != want {
			t.Errorf("floatExact(%s) = %v, want %v", in, got, want)
		}
	}
}

func BenchmarkMapUnmarshalJSON(b *testing.B) {
	in := []byte(`{"enqueued_us": 1733550000000000, "tier": "gold"}`)
	b.ReportAllocs()
	for b.Loop() {
		var m Map
		if err := m.UnmarshalJSON(in); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzMapUnmarshalJSON checks that Map.UnmarshalJSON decodes every object as the json.Number
// path alone does: the same map, or an error for the same inputs.
func FuzzMapUnmarshalJSON(f *testing.F) {
	for _, seed := range []string{
		`{"enqueued_us": 1733550000000000}`, `{"n": 9007199254740993, "f": -0.5, "z": -0}`,
		`{"l": [1, 2.0, 1e3, {"x": "9007199254740993"}], "s": "a\\\"b"}`, `null`, `{"e": 1E400}`,
		`{"big": 123456789012345678901234567890}`, `{"a": 1.00000000000000000001}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return // a store's JSON is valid, and json.Unmarshal checks it before the method
		}
		var want map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		wantErr := dec.Decode(&want)
		if wantErr == nil {
			wantErr = normalizeDecodedMap(want, 0)
		}
		var got Map
		err := got.UnmarshalJSON(b)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("UnmarshalJSON(%s) error = %v, the json.Number path's %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(map[string]any(got), want) {
			t.Fatalf("UnmarshalJSON(%s) = %#v, the json.Number path's %#v", b, got, want)
		}
	})
}
