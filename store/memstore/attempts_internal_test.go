package memstore

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookline/webhook"
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

// BenchmarkAttemptsPage reads the newest attempt of a log of 20,000, as the console's first
// page of the attempt log and a check of the latest attempt do.
func BenchmarkAttemptsPage(b *testing.B) {
	s := New()
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for i := range 20000 {
		s.attempts.add(&webhook.Attempt{JobID: fmt.Sprintf("j%05d", i), MessageID: "m", UserID: "u", Number: 1,
			Time: t0.Add(time.Duration(i) * time.Millisecond), Outcome: webhook.Succeeded, StatusCode: 200,
			RequestHeader:  http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {fmt.Sprintf("j%05d", i)}},
			ResponseHeader: http.Header{"Content-Length": {"0"}}})
	}
	ctx := context.Background()
	b.Run("Attempts", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if as, err := s.Attempts(ctx, webhook.AttemptQuery{Limit: 1}); err != nil || len(as) != 1 {
				b.Fatal(as, err)
			}
		}
	})
	b.Run("FindAttempts", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if as, err := s.FindAttempts(ctx, webhook.FindAttemptsParams{Limit: 50}); err != nil || len(as) != 50 {
				b.Fatal(as, err)
			}
		}
	})
}
