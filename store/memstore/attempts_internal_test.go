package memstore

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// Headers packed for the attempt log unpack to equal ones: nil stays nil, an empty header
// stays empty, and a key with a nil list of values keeps it.
func TestPackHeaders(t *testing.T) {
	long := strings.Repeat("v", 300) // a length of two bytes
	headers := []http.Header{
		nil,
		{},
		{"Content-Type": {"application/json"}},
		{"Date": {"Sun, 06 Dec 2026 22:00:00 GMT"}, "Content-Length": {"0"}, "X-Many": {"a", "", long}},
		{"X-Nil": nil, "X-Empty": {}, "": {""}, "Odd\x00key:": {"é\xff"}},
		{"X-Long": {strings.Repeat("x", 600)}}, // more than packHeaders' buffer
	}
	for _, req := range headers {
		for _, resp := range headers {
			gotReq, gotResp := unpackHeaders(packHeaders(req, resp))
			if !reflect.DeepEqual(gotReq, req) || !reflect.DeepEqual(gotResp, resp) {
				t.Errorf("unpackHeaders(packHeaders(%#v, %#v)) = %#v, %#v", req, resp, gotReq, gotResp)
			}
		}
	}
}
