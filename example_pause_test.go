package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// Pausing a campaign holds its pending jobs, keeping their due times; resuming it
// releases them, and those whose time came during the pause go at once.
func ExampleSender_PauseCampaign() {
	ctx := context.Background()
	s, clock, url, stop := policySender(webhook.Config{})
	defer stop()
	_ = s.Identify(ctx, webhook.User{ID: "ann"})
	_ = s.Identify(ctx, webhook.User{ID: "bob"})
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "sale", URL: url + "/sale", Delivery: webhook.Delivery{
		Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "12:00", UserTimeZone: true,
	}})
	show := func() {
		_ = clock.BlockUntil(ctx, 1) // the Sender is idle
		c, _ := s.Campaign(ctx, "sale")
		as, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "sale"})
		var sent []string
		for _, a := range as {
			sent = append(sent, fmt.Sprintf("%s %s at %s", a.UserID, a.Outcome, a.Time.Format("15:04")))
		}
		slices.Sort(sent) // by user: the two go at once
		fmt.Printf("%s: campaign %s, attempts %q\n", clock.Now().Format("15:04"), c.State, sent)
	}

	_ = s.StartCampaign(ctx, "sale") // at 09:00: one delivery per user, due at 12:00 on the user's clock (UTC here)
	show()
	_ = s.PauseCampaign(ctx, "sale")
	clock.Advance(4 * time.Hour) // 13:00: nothing is sent
	show()
	_ = s.ResumeCampaign(ctx, "sale")
	show()
	// Output:
	// 09:00: campaign running, attempts []
	// 13:00: campaign paused, attempts []
	// 13:00: campaign running, attempts ["ann succeeded at 13:00" "bob succeeded at 13:00"]
}
