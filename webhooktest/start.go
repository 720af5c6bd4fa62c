package webhooktest

import (
	"context"
	"testing"

	"github.com/hookline/webhook"
)

// Start starts s for the rest of the test: it fails the test at once if s cannot start, and
// when the test ends it stops s, waiting for the deliveries in flight, and reports an error
// from Stop as a test error.
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
