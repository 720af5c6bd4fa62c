package jinja

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestObjectMarshalJSON checks that an Object encodes each key and value as encoding/json
// does without HTML escaping, in order, whether appendPlainJSON or encoding/json writes it.
func TestObjectMarshalJSON(t *testing.T) {
	var every strings.Builder
	for c := range 256 {
		every.WriteByte(byte(c))
	}
	values := []any{every.String(), nil, true, false, 0, -7, math.MaxInt64, int64(math.MinInt64), int32(3), uint8(200), 1.5, 1e21,
		json.Number("12.50"), "", "plain text", `quote " and \ backslash`, "<a href='x'>&</a>", "tab\tnew\nline\r",
		"\x00\x01\x1f\x7f", "é ü 日本", "\u2028\u2029", "bad \xff utf-8", []any{"a", 1}, map[string]any{"k": "v"},
		Object{{"inner", 1}}}
	for _, k := range []string{"key", "", "k\"ey", "<k>", "é", "\x01", every.String()} {
		for _, v := range values {
			o := Object{{k, v}, {"after", "x"}}
			got, err := o.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON(%#v): %v", o, err)
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			want.WriteByte('{')
			for i, m := range o {
				if i > 0 {
					want.WriteByte(',')
				}
				_ = enc.Encode(m.Key)
				want.Truncate(want.Len() - 1)
				want.WriteByte(':')
				_ = enc.Encode(m.Value)
				want.Truncate(want.Len() - 1)
			}
			want.WriteByte('}')
			if string(got) != want.String() {
				t.Errorf("MarshalJSON(%#v) = %s, want %s", o, got, want.String())
			}
		}
	}
}

func BenchmarkObjectMarshalJSON(b *testing.B) {
	o := Object{{"enqueued_us", int64(1765051234567890)}, {"first_name", "Mary"}, {"tier", "gold"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
