package webhooktest_test

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// Start starts the Sender for the test that calls it and stops it when that test ends.
func TestStartStopsTheSenderWhenTheTestEnds(t *testing.T) {
	clock := webhooktest.NewFakeClock(t0)
	recv := webhooktest.NewReceiver(t)
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{Clock: clock,
		AllowNetworks: webhooktest.LoopbackNetworks(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveMessage(t.Context(), &webhook.Message{ID: "m", URL: recv.URL + "/hook"}); err != nil {
		t.Fatal(err)
	}
	t.Run("started", func(t *testing.T) {
		webhooktest.Start(t, s)
		if err := s.Start(t.Context()); !errors.Is(err, webhook.ErrSenderStarted) {
			t.Errorf("Start after webhooktest.Start = %v, want ErrSenderStarted", err)
		}
		if _, err := s.Send(t.Context(), "m", "u1", nil); err != nil {
			t.Fatal(err)
		}
		if err := clock.BlockUntil(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		if n := len(recv.Requests()); n != 1 {
			t.Errorf("the receiver got %d requests, want 1: the Sender sends while the test runs", n)
		}
	})
	// The subtest has ended, so the Sender was stopped: its dispatcher no longer waits on
	// the clock.
	if n := clock.Waiters(); n != 0 {
		t.Errorf("after the subtest ended, %d goroutines wait on the clock, want 0: webhooktest.Start should have stopped the Sender", n)
	}
}
