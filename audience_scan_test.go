package webhook_test

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/hookline/webhook"
)

// An audience past a limit is refused while it is read: decoding it allocates a small part of
// its size, not tens of times its size as building it first did (a 5 MB audience of 200,000
// criteria allocated 305 MiB). The bound is generous; a test never measures time.
func TestOversizedAudienceJSONIsRefusedWhileRead(t *testing.T) {
	for _, tt := range []struct {
		name, json, want string
	}{
		{"200,000 criteria",
			`{"all": [` + strings.Repeat(`{"attr":"a","op":"eq","value":1},`, 200_000-1) + `{"attr":"a","op":"eq","value":1}]}`,
			"audience.all[999]: more than 1000 criteria"},
		{"200,000 criteria in any, upper case",
			`{"ANY": [` + strings.Repeat(`{"attr":"a","op":"eq","value":1},`, 200_000-1) + `{"attr":"a","op":"eq","value":1}]}`,
			"audience.any[999]: more than 1000 criteria"},
		{"1,000,000 values",
			`{"attr":"a","op":"in","value":[` + strings.Repeat(`12345,`, 1_000_000-1) + `1]}`,
			"audience.value: a list of more than 10000 values"},
		{"1,000,000 values in where",
			`{"event":"e","where":{"key":"k","op":"in","value":[` + strings.Repeat(`"abc",`, 1_000_000-1) + `"x"]},"op":"gte","value":1}`,
			"audience.where: a list of more than 10000 values"},
		{"9,000 levels",
			strings.Repeat(`{"not":`, 9000) + `{"attr":"a","op":"exists"}` + strings.Repeat(`}`, 9000),
			"nested more than 16 levels deep"},
		{"values 9,000 levels deep",
			`{"attr":"a","op":"eq","value":` + strings.Repeat(`[`, 9000) + strings.Repeat(`]`, 9000) + `}`,
			"audience.value: nested more than 32 levels deep"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.json)
			var a webhook.Audience
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := json.Unmarshal(b, &a)
			runtime.ReadMemStats(&after)
			var ve *webhook.ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Unmarshal = %v, want a *ValidationError saying %q", err, tt.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
				t.Errorf("Unmarshal of %d bytes allocated %d bytes before refusing them, want at most 4 MiB", len(b), grew)
			}
		})
	}
}
