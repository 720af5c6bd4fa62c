package webhook_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

// FuzzAudienceJSON reads audiences from JSON. No input may panic or hang; an audience that
// reads writes back to JSON that reads to the same audience; a valid one evaluates, with the
// same result before and after the round trip. Seeds are in testdata/fuzz/FuzzAudienceJSON.
func FuzzAudienceJSON(f *testing.F) {
	f.Add([]byte(mustJSON(f, largeAudience(3))))
	p := newPopulation(f, mary, webhook.User{ID: "bare"}, webhook.User{ID: "u-3", Attributes: webhook.Map{"plan": "free", "age": int64(17)}})
	p.did(f, "u-1", "purchase", -2*days, webhook.Map{"amount": int64(10), "currency": "EUR"})
	p.did(f, "u-1", "purchase", -time.Hour, webhook.Map{"amount": 2.5})
	p.did(f, "u-3", "open", 0, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		var a webhook.Audience
		if err := json.Unmarshal(in, &a); err != nil {
			return
		}
		out, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("Marshal of an audience read from %q: %v", in, err)
		}
		var back webhook.Audience
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("Unmarshal(%s), written from %q: %v", out, in, err)
		}
		if again, _ := json.Marshal(back); !bytes.Equal(out, again) {
			t.Fatalf("JSON round trip: %s became %s", out, again)
		}
		if a.IsZero() != back.IsZero() {
			t.Fatalf("IsZero changed in a round trip of %s", out)
		}
		err = a.Validate()
		if errBack := back.Validate(); (err == nil) != (errBack == nil) {
			t.Fatalf("Validate(%s) = %v before a round trip, %v after", out, err, errBack)
		}
		if err != nil {
			return
		}
		n, err := p.sender.AudienceSize(p.ctx, a)
		nBack, errBack := p.sender.AudienceSize(p.ctx, back)
		if err != nil || errBack != nil || n != nBack {
			t.Fatalf("AudienceSize(%s) = %d, %v before a round trip, %d, %v after", out, n, err, nBack, errBack)
		}
	})
}
