package pgstore_test

import (
	"context"
	"maps"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/store/storetest"
)

// TestStore runs the conformance suite on one schema, emptied before each rule: every table
// but the migrations', and the sequences.
func TestStore(t *testing.T) {
	pool := newPool(t, newSchema(t))
	storetest.Run(t, func(t *testing.T) webhook.Store {
		if _, err := pool.Exec(context.Background(), `DO $$ BEGIN
				EXECUTE 'TRUNCATE ' || (SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables
					WHERE schemaname = current_schema() AND tablename <> 'webhook_migrations') || ' RESTART IDENTITY';
			END $$`); err != nil {
			t.Fatal(err)
		}
		return pgstore.New(pool)
	})
}

// BenchmarkStore runs the shared store benchmarks, each on a schema of its own, with a pool
// of one connection per Sender worker and a few more.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) webhook.Store { return benchStore(b, nil) })
}

// BenchmarkStoreAsyncCommit is BenchmarkStore on connections with synchronous_commit off, a
// setting that trades the durability of the last enqueues on a server crash for speed.
func BenchmarkStoreAsyncCommit(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) webhook.Store {
		return benchStore(b, map[string]string{"synchronous_commit": "off"})
	})
}

func benchStore(b *testing.B, params map[string]string) webhook.Store {
	params = maps.Clone(params)
	if params == nil {
		params = map[string]string{}
	}
	params["search_path"] = newSchema(b)
	params["application_name"] = "pgstore-bench" // for finding its server processes
	pool, err := openPool(b.Context(), dsn(b), 20, params)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pgstore.New(pool)
}
