package webhook_test

import (
	"fmt"

	"github.com/hookline/webhook"
)

// A Store adapter that reads a window of events and filters them in Go compiles the query's
// Where once and matches every event with it.
func ExampleCondition_Matcher() {
	where := &webhook.Condition{Key: "currency", Op: webhook.OpIn, Value: []any{"EUR", "GBP"}}
	match := where.Matcher()
	for _, params := range []webhook.Map{
		{"currency": "EUR", "total": 30},
		{"currency": "USD", "total": 12},
		{"total": 99},
	} {
		fmt.Println(params["currency"], match(params))
	}

	var none *webhook.Condition // an EventQuery without Where
	fmt.Println(none.Matcher()(webhook.Map{}))
	// Output:
	// EUR true
	// USD false
	// <nil> false
	// true
}
