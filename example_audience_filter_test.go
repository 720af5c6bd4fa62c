package webhook_test

import (
	"fmt"
	"time"

	"github.com/hookline/webhook"
)

// An AudienceFilter is an audience compiled at a time, for a Store that evaluates
// audiences in its own query language; Match is the Go evaluator it must agree with.
func ExampleAudienceFilter_Match() {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	gold := webhook.All(
		webhook.Attr("plan", webhook.OpEq, "gold"),
		webhook.Did("purchase", 30*24*time.Hour, webhook.OpGte, 1),
	)
	f, err := gold.Filter(now)
	if err != nil {
		panic(err)
	}
	did := f.Parts[1]
	fmt.Println(did.Name, did.Agg, did.Since.Format(time.DateOnly), did.Test.Op, did.Test.Values[0].Int, did.NoEvents)

	u := webhook.User{ID: "u1", Attributes: webhook.Map{"plan": "gold"}}
	recent := []webhook.Event{{UserID: "u1", Name: "purchase", Time: now.Add(-48 * time.Hour)}}
	old := []webhook.Event{{UserID: "u1", Name: "purchase", Time: now.Add(-60 * 24 * time.Hour)}}
	fmt.Println(f.Match(&u, recent), f.Match(&u, old))
	// Output:
	// purchase count 2026-10-24 gte 1 false
	// true false
}
