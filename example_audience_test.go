package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// An audience of gold members in Germany who bought at least twice in the last 30 days,
// leaving out a stable 10% holdout, and its JSON form.
func ExampleAudience() {
	a := webhook.All(
		webhook.Attr("membership", webhook.OpEq, "gold"),
		webhook.Did("purchase", 30*24*time.Hour, webhook.OpGte, 2),
		webhook.UserField("country", webhook.OpEq, "DE"),
		webhook.Not(webhook.InBucket("q4-holdout", 0, 100)),
	)
	b, _ := json.MarshalIndent(a, "", "  ")
	fmt.Println(string(b))
	// Output:
	// {
	//   "all": [
	//     {
	//       "attr": "membership",
	//       "op": "eq",
	//       "value": "gold"
	//     },
	//     {
	//       "event": "purchase",
	//       "within": "30d",
	//       "op": "gte",
	//       "value": 2
	//     },
	//     {
	//       "field": "country",
	//       "op": "eq",
	//       "value": "DE"
	//     },
	//     {
	//       "not": {
	//         "bucket": "q4-holdout",
	//         "op": "between",
	//         "value": [
	//           0,
	//           99
	//         ]
	//       }
	//     }
	//   ]
	// }
}

func ExampleSender_AudienceSize() {
	ctx := context.Background()
	clock := webhooktest.NewFakeClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	s, _ := webhook.NewSender(memstore.New(), &webhook.Config{Clock: clock})
	for _, u := range []webhook.User{
		{ID: "ann", Attributes: webhook.Map{"membership": "gold"}},
		{ID: "bob", Attributes: webhook.Map{"membership": "gold"}},
		{ID: "cat", Attributes: webhook.Map{"membership": "free"}},
	} {
		_ = s.Identify(ctx, u)
	}
	_ = s.Trigger(ctx, webhook.Event{UserID: "ann", Name: "purchase", Params: webhook.Map{"amount": 120}})
	_ = s.Trigger(ctx, webhook.Event{UserID: "bob", Name: "purchase", Params: webhook.Map{"amount": 15}})

	big := webhook.All(
		webhook.Attr("membership", webhook.OpEq, "gold"),
		webhook.EventStat("purchase", webhook.AggSum, "amount", 30*24*time.Hour, webhook.OpGte, 100),
	)
	gold, _ := s.AudienceSize(ctx, webhook.Attr("membership", webhook.OpEq, "gold"))
	spenders, _ := s.AudienceSize(ctx, big)
	fmt.Println(gold, "gold members,", spenders, "spent 100 or more this month")
	// Output: 2 gold members, 1 spent 100 or more this month
}
