package webhook_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookline/webhook"
)

// A host app keeps segments as JSON and reads them into an Audience. Unknown fields are an
// error when reading, and Validate lists every other problem with its path.
func ExampleAudience_UnmarshalJSON() {
	var a webhook.Audience
	err := json.Unmarshal([]byte(`{"all": [
		{"attr": "plan", "op": "in", "value": ["gold", "platinum"]},
		{"event": "purchase", "within": "30d", "op": "gte", "value": 1},
		{"not": {"bucket": "holdout", "op": "between", "value": [0, 99]}}
	]}`), &a)
	fmt.Println(err, a.Validate())
	fmt.Println(a.IsZero(), webhook.Audience{}.IsZero()) // the zero Audience means everyone

	err = json.Unmarshal([]byte(`{"attr": "plan", "operator": "eq", "value": "gold"}`), &a)
	fmt.Println(err)

	var bad webhook.Audience
	_ = json.Unmarshal([]byte(`{"all": [
		{"attr": "plan", "op": "is", "value": "gold"},
		{"attr": "age", "op": "between", "value": 30},
		{"field": "shoe_size", "op": "eq", "value": 42}
	]}`), &bad)
	err = bad.Validate()
	var ve *webhook.ValidationError
	fmt.Println(errors.Is(err, webhook.ErrInvalid), errors.As(err, &ve))
	for _, p := range ve.Problems {
		fmt.Println(p)
	}
	// Output:
	// <nil> <nil>
	// false true
	// webhook: audience: json: unknown field "operator"
	// true true
	// audience.all[0].op: unknown operator "is"
	// audience.all[1].value: between takes a list of two values, the lowest first
	// audience.all[2].field: unknown user field "shoe_size"; one of id, email, test, country, region, city, locale, language, time_zone, created_at, last_active
}

// BucketOf puts a user in one of 1000 stable buckets for a salt; InBucket selects a range of
// them, so InBucket(salt, 0, 100) is a reproducible 10% sample.
func ExampleBucketOf() {
	for _, id := range []string{"u1", "u2", "u3"} {
		fmt.Println(id, webhook.BucketOf("spring-test", id), webhook.BucketOf("autumn-test", id))
	}
	// Output:
	// u1 767 319
	// u2 859 332
	// u3 596 678
}
