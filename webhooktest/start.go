package webhooktest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

// Epoch is the time of the FakeClock that [NewSender] makes when the Config has no Clock.
var Epoch = time.Date(2030, time.January, 7, 9, 0, 0, 0, time.UTC)

// NewSender returns a Sender on store for a test, with the settings a test wants where cfg
// leaves them zero (a nil cfg leaves them all):
//   - Clock: a new FakeClock at [Epoch];
//   - AllowNetworks: [LoopbackNetworks] if nil, so that it reaches a [Receiver] (an empty,
//     non-nil slice keeps the default of no network);
//   - HostRate: no limit (-1), so that [FakeClock.BlockUntil] returns once every due job was
//     attempted, rather than once the host limit holds the rest back;
//   - Logger: the test's output ([testing.TB.Output]) at info level, shown when the test fails
//     or runs with -v.
//
// It returns the Sender and its Clock if that is a FakeClock (nil otherwise). It fails the test
// at once if the Config is invalid. It does not start the Sender; see [Start].
func NewSender(tb testing.TB, store webhook.Store, cfg *webhook.Config) (*webhook.Sender, *FakeClock) {
	tb.Helper()
	var c webhook.Config
	if cfg != nil {
		c = *cfg
	}
	if c.Clock == nil {
		c.Clock = NewFakeClock(Epoch)
	}
	if c.AllowNetworks == nil {
		c.AllowNetworks = LoopbackNetworks()
	}
	if c.HostRate == 0 {
		c.HostRate = -1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(tb.Output(), nil))
	}
	s, err := webhook.NewSender(store, &c)
	if err != nil {
		tb.Fatalf("webhooktest: new sender: %v", err)
	}
	clock, _ := c.Clock.(*FakeClock)
	return s, clock
}

// Start starts s for the rest of the test: it fails the test at once if s cannot start, and
// when the test ends it stops s, waiting for the jobs in flight, and reports an error from
// Stop as a test error.
func Start(tb testing.TB, s *webhook.Sender) {
	tb.Helper()
	if err := s.Start(context.Background()); err != nil {
		tb.Fatalf("webhooktest: start sender: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			tb.Errorf("webhooktest: stop sender: %v", err)
		}
	})
}
