package webhook_test

import (
	"fmt"

	"github.com/hookline/webhook"
)

// A Condition compares one value of a map, such as an event parameter, with a constant.
func ExampleCondition_Match() {
	where := &webhook.Condition{Key: "currency", Op: webhook.OpIn, Value: []any{"EUR", "GBP"}}
	for _, params := range []webhook.Map{
		{"currency": "EUR", "total": 30},
		{"currency": "USD", "total": 12},
		{"total": 99},
	} {
		fmt.Println(params["currency"], where.Match(params))
	}
	// Output:
	// EUR true
	// USD false
	// <nil> false
}
