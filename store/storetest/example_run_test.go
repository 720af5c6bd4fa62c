package storetest_test

import (
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/store/storetest"
)

// A Store of your own passes Run in a test of its package, given a function that returns a
// new, empty Store for each rule; Bench measures it with the same function. Here memstore
// stands in for your Store.
func ExampleRun() {
	// In mystore_test.go:
	testStore := func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) webhook.Store {
			return memstore.New() // mystore.New(openEmptyTestDatabase(t)), cleaned up with t.Cleanup
		})
	}
	benchmarkStore := func(b *testing.B) {
		storetest.Bench(b, func(b *testing.B) webhook.Store { return memstore.New() })
	}
	_, _ = testStore, benchmarkStore
}
