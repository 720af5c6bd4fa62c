package webhooktest_test

import (
	"errors"
	"fmt"
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
		if _, err := s.Send(t.Context(), "m", "u1", nil, nil); err != nil {
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

// NewSender gives a test Sender a fake clock, loopback access and no host limit, so that
// BlockUntil returns once every due job was attempted: 30 jobs to one host all arrive, where
// the default host limit would hold back all but a burst of 10.
func TestNewSenderSendsEveryDueJob(t *testing.T) {
	recv := webhooktest.NewReceiver(t)
	s, clock := webhooktest.NewSender(t, memstore.New(), nil)
	if clock == nil || !clock.Now().Equal(webhooktest.Epoch) {
		t.Fatalf("NewSender's clock = %v, want a FakeClock at Epoch", clock)
	}
	if err := s.SaveMessage(t.Context(), &webhook.Message{ID: "m", URL: recv.URL + "/hook"}); err != nil {
		t.Fatal(err)
	}
	webhooktest.Start(t, s)
	for i := range 30 {
		if _, err := s.Send(t.Context(), "m", fmt.Sprint("u", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := clock.BlockUntil(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if n := len(recv.Requests()); n != 30 {
		t.Errorf("the receiver got %d requests once the Sender was idle, want 30", n)
	}
}

// NewSender keeps what the Config sets: a host limit asked for holds jobs back.
func TestNewSenderKeepsTheConfig(t *testing.T) {
	recv := webhooktest.NewReceiver(t)
	clock := webhooktest.NewFakeClock(t0)
	s, got := webhooktest.NewSender(t, memstore.New(), &webhook.Config{Clock: clock, HostRate: 1, HostBurst: 2})
	if got != clock {
		t.Fatalf("NewSender returned clock %p, want the Config's %p", got, clock)
	}
	if err := s.SaveMessage(t.Context(), &webhook.Message{ID: "m", URL: recv.URL + "/hook"}); err != nil {
		t.Fatal(err)
	}
	webhooktest.Start(t, s)
	for i := range 5 {
		if _, err := s.Send(t.Context(), "m", fmt.Sprint("u", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := clock.BlockUntil(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if n := len(recv.Requests()); n != 2 {
		t.Errorf("the receiver got %d requests at once, want the burst of 2", n)
	}
}
