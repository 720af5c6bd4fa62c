package sqlitestore_test

import (
	"context"
	"database/sql"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/storetest"
)

var audience1M = flag.Bool("audience1m", false, "run BenchmarkAudience1M, which loads a million users and about three million events (a few minutes)")

// BenchmarkAudience1M runs storetest.BenchAudience on a million users and about three
// million events, loaded with multi-row inserts in one transaction and analyzed. Run it with
//
//	go test ./store/sqlitestore -run '^$' -bench Audience1M -benchtime 1x -audience1m
func BenchmarkAudience1M(b *testing.B) {
	if !*audience1M {
		b.Skip("pass -audience1m to run it")
	}
	ctx := context.Background()
	s, db := openAt(b, filepath.Join(b.TempDir(), "hooks.db"))
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	users := inserter{tx: tx, table: "webhook_users (id, data)", columns: 2}
	events := inserter{tx: tx, table: "webhook_events (id, user_id, name, params, time)", columns: 5}
	storetest.AudiencePopulation(1_000_000, func(u webhook.User, data []byte) {
		users.add(b, u.ID, string(data))
	}, func(e webhook.Event, params []byte) {
		events.add(b, e.ID, e.UserID, e.Name, string(params), e.Time.UnixNano())
	})
	users.flush(b)
	events.flush(b)
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	storetest.BenchAudience(b, s, func(b *testing.B) {
		for _, t := range []string{"webhook_jobs", "webhook_campaigns", "webhook_messages", "webhook_message_versions"} {
			if _, err := db.ExecContext(ctx, "DELETE FROM "+t); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// inserter inserts rows into a table 100 at a time.
type inserter struct {
	tx      *sql.Tx
	table   string
	columns int
	args    []any
}

func (in *inserter) add(b *testing.B, row ...any) {
	in.args = append(in.args, row...)
	if len(in.args) == 100*in.columns {
		in.flush(b)
	}
}

func (in *inserter) flush(b *testing.B) {
	if len(in.args) == 0 {
		return
	}
	row := "(?" + strings.Repeat(", ?", in.columns-1) + ")"
	rows := strings.Repeat(row+", ", len(in.args)/in.columns-1) + row
	if _, err := in.tx.Exec("INSERT INTO "+in.table+" VALUES "+rows, in.args...); err != nil {
		b.Fatal(err)
	}
	in.args = in.args[:0]
}
