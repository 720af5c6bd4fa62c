package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
	"go.uber.org/goleak"
)

// errorCounter is a slog.Handler that counts the records at error level.
type errorCounter struct{ n atomic.Int64 }

func (h *errorCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *errorCounter) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h *errorCounter) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *errorCounter) WithGroup(string) slog.Handler                { return h }

// A Sender whose Store fails one call in ten — before the call, after it (the reply lost), or
// timed out — sends a campaign of thousands with nothing lost: every user gets the message,
// any second copy carries the same webhook-id, every failure is logged, no goroutine is left
// after Stop, and when every call fails it waits on its clock instead of spinning.
func TestSenderSurvivesAFlakyStore(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // the last cleanup: after Stop
	ctx := testContext(t)
	const users = 2000
	inner := memstore.New()
	updates := make([]webhook.UserUpdate, users)
	for i := range updates {
		updates[i].User.ID = fmt.Sprintf("u%04d", i)
	}
	if err := inner.PutUsers(ctx, webhook.PutUsersParams{Users: updates, Now: epoch}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex                   // guards got
	got := map[string]map[string]bool{} // user → the webhook-ids it got
	recv := webhooktest.NewReceiver(t)
	flaky := &webhooktest.FlakyStore{Store: inner, Before: 0.04, After: 0.03, Timeout: 0.03, Seed: 1}
	logged := &errorCounter{}
	s, clock := webhooktest.NewSender(t, flaky, &webhook.Config{
		Clock: webhooktest.NewFakeClock(epoch), Logger: slog.New(logged), Lease: 2 * time.Minute,
	})
	retry := func(what string, f func() error) {
		for i := 0; ; i++ {
			err := f()
			if err == nil || errors.Is(err, webhook.ErrCampaignStarted) {
				return
			}
			if i == 50 || !(errors.Is(err, webhooktest.ErrFlaky) || errors.Is(err, context.DeadlineExceeded)) {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	retry("save", func() error {
		return s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: recv.URL + "/{{ user.id }}", Delivery: webhook.Delivery{Kind: webhook.Immediate}})
	})
	webhooktest.Start(t, s)
	retry("start campaign", func() error { return s.StartCampaign(ctx, "m") })
	for step := 0; ; step++ {
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatalf("step %d: the Sender was not idle: %v", step, err)
		}
		mu.Lock()
		clear(got)
		for _, r := range recv.Requests() {
			u := strings.TrimPrefix(r.URI, "/")
			if got[u] == nil {
				got[u] = map[string]bool{}
			}
			got[u][r.Header.Get("Webhook-Id")] = true
		}
		n := len(got)
		mu.Unlock()
		if n == users {
			break
		}
		if step == 100 {
			t.Fatalf("after %d minutes of fake time, %d of %d users got the message", step, n, users)
		}
		clock.Advance(time.Minute)
	}
	for u, ids := range got {
		if len(ids) != 1 {
			t.Errorf("user %s got %d different webhook-ids, want one job's: %v", u, len(ids), ids)
		}
	}
	if flaky.Failed() == 0 || logged.n.Load() == 0 {
		t.Errorf("the store failed %d calls and the Sender logged %d errors; want some of each", flaky.Failed(), logged.n.Load())
	}

	// Every call fails: the Sender waits on its clock between tries, so it is idle, and makes
	// no calls while the clock stands still.
	flaky.SetRates(1, 0, 0)
	if _, err := s.Send(ctx, "m", "u0000", nil, nil); err == nil {
		t.Fatal("Send on a store whose every call fails succeeded")
	}
	clock.Advance(time.Minute)
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatalf("the Sender did not wait on its clock while every store call failed: %v", err)
	}
	calls := flaky.Calls()
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := flaky.Calls() - calls; n != 0 {
		t.Errorf("the idle Sender made %d store calls while the clock stood still", n)
	}
	flaky.SetRates(0, 0, 0)
}
