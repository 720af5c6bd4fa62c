package pgstore_test

import (
	"context"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/internal/crashtest"
	"github.com/hookline/webhook/store/pgstore"
	"os"
	"testing"
	"time"
)

// crashConfig is a crash test of three processes sharing one schema.
func crashConfig(kills int, lease time.Duration) crashtest.Config {
	return crashtest.Config{
		Setup: func(t *testing.T) string { return newSchema(t) },
		Open: func(ctx context.Context, schema string) (webhook.Store, error) {
			pool, err := openPool(ctx, os.Getenv("WEBHOOK_TEST_POSTGRES"), 6, map[string]string{"search_path": schema})
			if err != nil {
				return nil, err
			}
			return pgstore.New(pool), nil
		},
		Processes: 3,
		Kills:     kills,
		Lease:     lease,
	}
}

// TestSharedNoCrash checks that three processes sharing a queue send each job exactly
// once when none of them crashes. Their leases are long: under load, a fresh process's first
// jobs have been seen to take 1.6 s from claim to response, close to the crash test's
// default lease, past which a second send is expected behaviour.
func TestSharedNoCrash(t *testing.T) {
	crashtest.Run(t, crashConfig(-1, time.Minute))
}

// TestSharedCrash kills the processes sharing a queue at random moments: no job is lost,
// and the few duplicates carry the same webhook-id.
func TestSharedCrash(t *testing.T) {
	crashtest.Run(t, crashConfig(8, 0))
}
