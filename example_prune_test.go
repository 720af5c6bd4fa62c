package webhook_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// The attempt log keeps every attempt until the app deletes old ones, here those older than
// 30 days, from a job of its own (all three stores in this module are AttemptPruners).
// Attempts within the longest cap window stay, so caps still count them.
func ExampleAttemptPruner() {
	ctx := context.Background()
	store := memstore.New()
	s, clock, url, stop := senderOn(store, webhook.Config{})
	defer stop()
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "receipt", URL: url + "/receipt"})
	for i := range 3 { // on November 23, December 13 and January 2
		if i > 0 {
			clock.Advance(20 * 24 * time.Hour)
		}
		_, _ = s.Send(ctx, "receipt", "ann", nil, nil)
		_ = clock.BlockUntil(ctx, 1) // the Sender is idle: the delivery is logged
	}

	var pruner webhook.AttemptPruner = store
	n, err := pruner.DeleteAttempts(ctx, clock.Now().Add(-30*24*time.Hour))
	fmt.Println("deleted", n, err)
	as, _ := s.Attempts(ctx, webhook.AttemptQuery{})
	for _, a := range as {
		fmt.Println(a.Time.Format(time.DateOnly), a.MessageID, a.Outcome)
	}
	// Output:
	// deleted 1 <nil>
	// 2027-01-02 receipt succeeded
	// 2026-12-13 receipt succeeded
}
