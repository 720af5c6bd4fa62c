package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// audienceStore is memstore with the AudienceStore role, done with AudienceFilter.Match
// over every user, or refused with ErrUnsupportedFilter; it counts its calls.
type audienceStore struct {
	*memstore.Store
	refuse bool
	calls  atomic.Int64
}

func (s *audienceStore) selected(ctx context.Context, q webhook.AudienceQuery) ([]webhook.User, error) {
	s.calls.Add(1)
	if s.refuse {
		return nil, fmt.Errorf("refused: %w", webhook.ErrUnsupportedFilter)
	}
	users, err := s.Users(ctx, webhook.UserQuery{After: q.After, Limit: 1 << 30})
	if err != nil {
		return nil, err
	}
	var out []webhook.User
	for _, u := range users {
		events, err := s.Events(ctx, webhook.EventQuery{UserID: u.ID})
		if err != nil {
			return nil, err
		}
		if q.Filter.Match(&u, events) && (q.Limit == 0 || len(out) < q.Limit) {
			out = append(out, u)
		}
	}
	return out, nil
}

func (s *audienceStore) CountAudience(ctx context.Context, q webhook.AudienceQuery) (int, error) {
	q.After, q.Limit = "", 0
	users, err := s.selected(ctx, q)
	return len(users), err
}

func (s *audienceStore) AudienceUsers(ctx context.Context, q webhook.AudienceQuery) ([]webhook.User, error) {
	return s.selected(ctx, q)
}

// TestAudienceStoreServesSizeAndFanOut checks that AudienceSize and a campaign's fan-out
// ask a Store with the AudienceStore role, and that they evaluate the audience in Go, with
// the same result, when the Store refuses it with ErrUnsupportedFilter.
func TestAudienceStoreServesSizeAndFanOut(t *testing.T) {
	audience := webhook.All(webhook.Attr("plan", webhook.OpEq, "gold"), webhook.Did("purchase", 30*24*time.Hour, webhook.OpGte, 1))
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuse=%v", refuse), func(t *testing.T) {
			ctx := testContext(t)
			store := &audienceStore{Store: memstore.New(), refuse: refuse}
			clock := webhooktest.NewFakeClock(epoch)
			recv := webhooktest.NewReceiver(t)
			s := startOn(t, store, clock, recv)
			var want []string
			for i := range 30 {
				id := fmt.Sprintf("u%02d", i)
				plan := []string{"gold", "free"}[i%2]
				if err := s.Identify(ctx, webhook.User{ID: id, Attributes: webhook.Map{"plan": plan}}); err != nil {
					t.Fatal(err)
				}
				if i%3 == 0 {
					if err := s.Trigger(ctx, webhook.Event{UserID: id, Name: "purchase", Time: epoch.Add(-time.Hour)}); err != nil {
						t.Fatal(err)
					}
					if plan == "gold" {
						want = append(want, id)
					}
				}
			}
			n, err := s.AudienceSize(ctx, audience)
			if err != nil || n != len(want) {
				t.Fatalf("AudienceSize = %d, %v; want %d", n, err, len(want))
			}
			if store.calls.Load() != 1 {
				t.Errorf("AudienceSize called the Store's CountAudience %d times, want 1", store.calls.Load())
			}
			m := &webhook.Message{ID: "gold", URL: recv.URL + "/{{ user.id }}", Audience: audience}
			if err := s.SaveMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := s.StartCampaign(ctx, "gold"); err != nil {
				t.Fatal(err)
			}
			reqs, err := recv.Wait(ctx, len(want))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range reqs {
				got = append(got, r.URI[1:])
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("the campaign sent to %v, want %v", got, want)
			}
			if store.calls.Load() < 2 {
				t.Errorf("the fan-out did not call the Store's AudienceUsers")
			}
		})
	}
}
