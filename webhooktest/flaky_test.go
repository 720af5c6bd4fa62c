package webhooktest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// A FlakyStore fails calls before or after they reach the Store, or times them out, as its
// rates say, and counts them.
func TestFlakyStore(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name                   string
		before, after, timeout float64
		wantErr                error
		saved                  bool
	}{
		{"passes", 0, 0, 0, nil, true},
		{"fails before", 1, 0, 0, webhooktest.ErrFlaky, false},
		{"fails after", 0, 1, 0, webhooktest.ErrFlaky, true},
		{"times out", 0, 0, 1, context.DeadlineExceeded, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inner := memstore.New()
			s := &webhooktest.FlakyStore{Store: inner, Before: tt.before, After: tt.after, Timeout: tt.timeout}
			for i := range 20 {
				u := webhook.User{ID: string(rune('a' + i))}
				err := s.PutUsers(ctx, webhook.PutUsersParams{Users: []webhook.UserUpdate{{User: u}}})
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("PutUsers = %v, want %v", err, tt.wantErr)
				}
			}
			saved, err := inner.Users(ctx, webhook.UserQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.saved && len(saved) != 20, !tt.saved && tt.timeout == 0 && len(saved) != 0:
				t.Errorf("%d of 20 users saved, want all: %v", len(saved), tt.saved)
			case tt.timeout > 0 && (len(saved) == 0 || len(saved) == 20):
				t.Errorf("%d of 20 timed-out calls happened, want some but not all", len(saved))
			}
			wantFailed := int64(20)
			if tt.wantErr == nil {
				wantFailed = 0
			}
			if s.Calls() != 20 || s.Failed() != wantFailed {
				t.Errorf("Calls, Failed = %d, %d; want 20, %d", s.Calls(), s.Failed(), wantFailed)
			}
		})
	}
}
