package memstore

import (
	"encoding/binary"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// A header packed for the attempt log unpacks to an equal one: nil stays nil, an empty
// header stays empty, and a key with a nil list of values keeps it.
func TestPackHeader(t *testing.T) {
	long := strings.Repeat("v", 300) // a length of two bytes
	for _, h := range []http.Header{
		nil,
		{},
		{"Content-Type": {"application/json"}},
		{"Date": {"Sun, 06 Dec 2026 22:00:00 GMT"}, "Content-Length": {"0"}, "X-Many": {"a", "", long}},
		{"X-Nil": nil, "X-Empty": {}, "": {""}, "Odd\x00key:": {"é\xff"}},
	} {
		got := unpackHeader(packHeader(h))
		if !reflect.DeepEqual(got, h) {
			t.Errorf("unpackHeader(packHeader(%#v)) = %#v", h, got)
		}
	}
}

// uvarintLen says how many bytes binary.AppendUvarint writes.
func TestUvarintLen(t *testing.T) {
	for _, x := range []int{0, 1, 127, 128, 300, 16383, 16384, 1 << 40} {
		if got, want := uvarintLen(x), len(binary.AppendUvarint(nil, uint64(x))); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", x, got, want)
		}
	}
}
