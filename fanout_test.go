package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// campaignReads is memstore that counts the reads of NextCampaignDue.
type campaignReads struct {
	*memstore.Store
	reads atomic.Int64
}

func (s *campaignReads) NextCampaignDue(ctx context.Context) (time.Time, bool, error) {
	s.reads.Add(1)
	return nextCampaignDue(ctx, s.Store)
}

// poll is the PollInterval of the Senders of these tests.
const poll = time.Second

// testContext returns a context that ends with the test or after 20 seconds, so that a
// Sender that never does what a test waits for fails the test rather than hangs it.
func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(tb.Context(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// startOn starts a Sender on store and clock with a message "m" to recv, and waits until it
// is idle.
func startOn(tb testing.TB, store webhook.Store, clock *webhooktest.FakeClock, recv *webhooktest.Receiver) *webhook.Sender {
	tb.Helper()
	s := newSenderOn(tb, store, clock, recv, "m")
	webhooktest.Start(tb, s)
	if err := clock.BlockUntil(testContext(tb), 1); err != nil {
		tb.Fatal(err)
	}
	return s
}

// newSenderOn returns a Sender, not started, of 4 workers on store and clock, and saves a
// message of the given ID to recv.
func newSenderOn(tb testing.TB, store webhook.Store, clock *webhooktest.FakeClock, recv *webhooktest.Receiver, messageID string) *webhook.Sender {
	tb.Helper()
	s, _ := webhooktest.NewSender(tb, store, &webhook.Config{
		Clock: clock, Logger: slog.New(slog.DiscardHandler), Workers: 4, PollInterval: poll,
	})
	if err := s.SaveMessage(tb.Context(), &webhook.Message{ID: messageID, URL: recv.URL + "/" + messageID + "/{{ user.id }}"}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestNextFanOutIsReadOncePerPollInterval checks that a Sender sending jobs reads when
// the next fan-out is due once per PollInterval, not on every pass of its dispatcher.
func TestNextFanOutIsReadOncePerPollInterval(t *testing.T) {
	ctx := testContext(t)
	store := &campaignReads{Store: memstore.New()}
	clock := webhooktest.NewFakeClock(epoch)
	recv := webhooktest.NewReceiver(t)
	s := startOn(t, store, clock, recv)
	const intervals, each = 3, 40
	for i := range intervals {
		for u := range each {
			if _, err := s.Send(ctx, "m", fmt.Sprintf("u%d", u), nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := recv.Wait(ctx, (i+1)*each); err != nil {
			t.Fatal(err)
		}
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(poll)
	}
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// One read at the start, then one each time PollInterval passes.
	if got, want := store.reads.Load(), int64(intervals+1); got > want {
		t.Errorf("NextCampaignDue was read %d times for %d deliveries over %d PollIntervals, want at most %d",
			got, intervals*each, intervals, want)
	}
}

// TestCampaignOfAnotherSenderIsFound checks that a campaign another Sender starts on the same
// Store, which does not wake this one, is fanned out by it within PollInterval of its last
// look, even if it sent jobs in between; and at once on a notification from a Store
// that is a Notifier.
func TestCampaignOfAnotherSenderIsFound(t *testing.T) {
	// other returns a second Sender on store and clock, with users a and b and a message
	// "c", and starts its campaign.
	other := func(t *testing.T, store webhook.Store, clock *webhooktest.FakeClock, recv *webhooktest.Receiver) {
		t.Helper()
		o := newSenderOn(t, store, clock, recv, "c")
		for _, id := range []string{"a", "b"} {
			if err := o.Identify(t.Context(), webhook.User{ID: id}); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.StartCampaign(t.Context(), "c"); err != nil {
			t.Fatal(err)
		}
	}
	campaignSends := func(t *testing.T, s *webhook.Sender) int {
		t.Helper()
		as, err := s.Attempts(t.Context(), webhook.AttemptQuery{MessageID: "c"})
		if err != nil {
			t.Fatal(err)
		}
		return len(as)
	}

	t.Run("within PollInterval", func(t *testing.T) {
		ctx := testContext(t)
		store := memstore.New()
		clock := webhooktest.NewFakeClock(epoch)
		recv := webhooktest.NewReceiver(t)
		s := startOn(t, store, clock, recv)
		other(t, store, clock, recv)
		clock.Advance(poll / 2)
		if _, err := s.Send(ctx, "m", "x", nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := recv.Wait(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(poll / 2)
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if n := campaignSends(t, s); n != 2 {
			t.Errorf("PollInterval after it last looked, the Sender made %d attempts of the other's campaign, want 2", n)
		}
	})

	t.Run("notified", func(t *testing.T) {
		ctx := testContext(t)
		store := &notifyingStore{Store: memstore.New(), ch: make(chan struct{}), ctx: make(chan context.Context, 1)}
		clock := webhooktest.NewFakeClock(epoch)
		recv := webhooktest.NewReceiver(t)
		s := startOn(t, store, clock, recv)
		other(t, store, clock, recv)
		store.ch <- struct{}{}
		// The clock does not move: only the notification can make the Sender look.
		if _, err := recv.Wait(ctx, 2); err != nil {
			t.Fatalf("after a notification: %v", err)
		}
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if n := campaignSends(t, s); n != 2 {
			t.Errorf("after a notification, the Sender made %d attempts of the other's campaign, want 2", n)
		}
	})
}

// TestSenderIsIdleAfterAFanOut checks that once a fan-out is done the Sender reads when the
// next one is due, instead of going on with the time of the one it did, which has passed:
// that would make it look for a due campaign over and over without ever waiting.
func TestSenderIsIdleAfterAFanOut(t *testing.T) {
	ctx := testContext(t)
	store := &campaignReads{Store: memstore.New()}
	clock := webhooktest.NewFakeClock(epoch)
	recv := webhooktest.NewReceiver(t)
	s := startOn(t, store, clock, recv)
	if err := s.Identify(ctx, webhook.User{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.StartCampaign(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := recv.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatalf("the Sender did not wait on its Clock after the fan-out: %v", err)
	}
}
