package webhook

import "testing"

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
