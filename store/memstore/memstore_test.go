package memstore_test

import (
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) webhook.Store { return memstore.New() })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(*testing.B) webhook.Store { return memstore.New() })
}
