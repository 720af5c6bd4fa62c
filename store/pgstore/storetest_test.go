package pgstore_test

import (
	"context"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/store/storetest"
)

// TestStore runs the conformance suite on one schema, emptied before each rule.
func TestStore(t *testing.T) {
	pool := newPool(t, newSchema(t))
	storetest.Run(t, func(t *testing.T) webhook.Store {
		if _, err := pool.Exec(context.Background(), `TRUNCATE webhook_users, webhook_events,
			webhook_message_heads, webhook_messages, webhook_jobs, webhook_attempts, webhook_campaigns RESTART IDENTITY`); err != nil {
			t.Fatal(err)
		}
		return pgstore.New(pool)
	})
}
