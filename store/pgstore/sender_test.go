package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/webhooktest"
	"github.com/jackc/pgx/v5"
)

// newSender returns a Sender on s and clock sending to loopback receivers, which polls only
// hourly, so that it finds other Senders' work only through notifications. It has no host
// rate limit, which would wait for clock to move.
func newSender(tb testing.TB, s webhook.Store, clock webhook.Clock, id string) *webhook.Sender {
	tb.Helper()
	sender, err := webhook.NewSender(s, &webhook.Config{
		ID: id, Clock: clock, AllowNetworks: webhooktest.LoopbackNetworks(), PollInterval: time.Hour, Workers: 4,
		HostRate: -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return sender
}

// startSenders starts n Senders on separate pools on schema, each with newSender, and waits
// until all of them wait for their next poll.
func startSenders(ctx context.Context, tb testing.TB, schema string, clock *webhooktest.FakeClock, n int) []*webhook.Sender {
	tb.Helper()
	senders := make([]*webhook.Sender, n)
	for i := range senders {
		senders[i] = newSender(tb, pgstore.New(newPool(tb, schema)), clock, fmt.Sprintf("sender%d", i))
		webhooktest.Start(tb, senders[i])
	}
	if err := clock.BlockUntil(ctx, n); err != nil {
		tb.Fatal(err)
	}
	return senders
}

// sharedQueue begins a test of Senders sharing a queue: it returns a context that ends
// after a minute or with the test, a new schema, a loopback receiver and a fake clock at
// epoch.
func sharedQueue(t *testing.T) (context.Context, string, *webhooktest.Receiver, *webhooktest.FakeClock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx, newSchema(t), webhooktest.NewReceiver(t), webhooktest.NewFakeClock(epoch)
}

// waitSentOnce waits until recv has n requests and fails the test if two of them are of one
// job or to one user (one URI).
func waitSentOnce(ctx context.Context, tb testing.TB, recv *webhooktest.Receiver, n int) {
	tb.Helper()
	reqs, err := recv.Wait(ctx, n)
	if err != nil {
		tb.Fatalf("got %d of %d requests: %v", len(recv.Requests()), n, err)
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		for _, k := range []string{"delivery " + r.Header.Get("Webhook-Id"), "URI " + r.URI} {
			if seen[k] {
				tb.Errorf("%s sent twice", k)
			}
			seen[k] = true
		}
	}
}

func hookMessage(url string) *webhook.Message {
	return &webhook.Message{
		ID: "hook", URL: url + "/{{ user.id }}",
		Data:     []webhook.Field{{Key: "order", Value: "{{ parameter['order'] }}"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "order"},
	}
}

// TestSendersShareQueue checks that three Senders on separate pools share the jobs that
// a fourth one enqueues, each sent once, woken by notifications rather than a poll.
func TestSendersShareQueue(t *testing.T) {
	ctx, schema, recv, clock := sharedQueue(t)
	// All three wait for the next poll, an hour away, before any job is enqueued.
	senders := startSenders(ctx, t, schema, clock, 3)
	app := newSender(t, pgstore.New(newPool(t, schema)), clock, "app")
	if err := app.SaveMessage(ctx, hookMessage(recv.URL)); err != nil {
		t.Fatal(err)
	}
	const n = 60
	for i := range n {
		if err := app.Trigger(ctx, webhook.Event{UserID: fmt.Sprintf("u%d", i), Name: "order", Params: map[string]any{"order": i}}); err != nil {
			t.Fatal(err)
		}
	}
	waitSentOnce(ctx, t, recv, n)
	for _, s := range senders {
		if err := s.Stop(ctx); err != nil { // waits until their attempts are logged
			t.Fatal(err)
		}
	}
	as, err := app.Attempts(ctx, webhook.AttemptQuery{MessageID: "hook"})
	if err != nil || len(as) != n {
		t.Fatalf("attempt log has %d attempts, %v; want %d", len(as), err, n)
	}
}

// TestTriggerTx checks that jobs triggered through a Tx in a transaction are sent if it
// commits and never exist if it rolls back.
func TestTriggerTx(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := newPool(t, newSchema(t))
	store := pgstore.New(pool)
	recv := webhooktest.NewReceiver(t)
	sender := newSender(t, store, webhooktest.NewFakeClock(epoch), "sender")
	if err := sender.SaveMessage(ctx, hookMessage(recv.URL)); err != nil {
		t.Fatal(err)
	}
	webhooktest.Start(t, sender)

	// The app's own write and the trigger, in one transaction that fails.
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE orders (id int PRIMARY KEY)`); err != nil {
			return err
		}
		if err := sender.InTx(store.WithTx(tx)).Trigger(ctx, webhook.Event{UserID: "rolled-back", Name: "order"}); err != nil {
			return err
		}
		return fmt.Errorf("payment declined")
	})
	if err == nil || err.Error() != "payment declined" {
		t.Fatalf("rolled-back transaction: %v", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE orders (id int PRIMARY KEY)`); err != nil {
			return err
		}
		return sender.InTx(store.WithTx(tx)).Trigger(ctx, webhook.Event{UserID: "committed", Name: "order", Params: map[string]any{"order": 7}})
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := recv.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 || reqs[0].URI != "/committed" || string(reqs[0].Body) != `{"order":7}` {
		t.Errorf("requests = %+v, want one to /committed with order 7", reqs)
	}
	var jobs, events int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM webhook_jobs WHERE user_id = 'rolled-back'),
		(SELECT count(*) FROM webhook_events WHERE user_id = 'rolled-back')`).Scan(&jobs, &events); err != nil {
		t.Fatal(err)
	}
	if jobs != 0 || events != 0 {
		t.Errorf("after rollback: %d jobs and %d events saved, want none", jobs, events)
	}
	if err := sender.InTx(nil).Trigger(ctx, webhook.Event{UserID: "u", Name: "order"}); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("Trigger in a Tx with a nil Store = %v, want ErrInvalid", err)
	}
}

// TestTxReadsThroughTheTransaction records a signup in one transaction through a Tx: the
// user, two purchases of a message sent on a user's second purchase, and a manual send. The
// second purchase sees the user and the first one's event, which only the transaction sees,
// so the message is sent once if the transaction commits. If it rolls back, nothing is saved
// and nothing sent.
func TestTxReadsThroughTheTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := newPool(t, newSchema(t))
	store := pgstore.New(pool)
	recv := webhooktest.NewReceiver(t)
	sender := newSender(t, store, webhooktest.NewFakeClock(epoch), "sender")
	for _, m := range []*webhook.Message{
		{ID: "second-purchase", URL: recv.URL + "/second-purchase/{{ user.id }}",
			Audience: webhook.Did("purchase", 0, webhook.OpGte, 2),
			Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "purchase"}},
		{ID: "welcome", URL: recv.URL + "/welcome/{{ user.id }}", Delivery: webhook.Delivery{Kind: webhook.Manual}},
	} {
		if err := sender.SaveMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	webhooktest.Start(t, sender)

	signup := func(user string, fail error) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			view := store.WithTx(tx)
			in := sender.InTx(view)
			if err := in.Identify(ctx, webhook.User{ID: user}); err != nil {
				return err
			}
			for range 2 {
				if err := in.Trigger(ctx, webhook.Event{UserID: user, Name: "purchase"}); err != nil {
					return err
				}
			}
			if _, err := in.Send(ctx, "welcome", user, nil, nil); err != nil {
				return err
			}
			jobs, err := view.Jobs(ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{UserID: user}})
			if err != nil || len(jobs) != 2 {
				t.Errorf("jobs of %s in the transaction = %v, %v; want two, of the second purchase and the send", user, jobs, err)
			}
			return fail
		})
	}
	declined := errors.New("payment declined")
	if err := signup("rolled-back", declined); err != declined {
		t.Fatalf("rolled-back transaction: %v", err)
	}
	if err := signup("committed", nil); err != nil {
		t.Fatal(err)
	}
	reqs, err := recv.Wait(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range reqs {
		uris = append(uris, r.URI)
	}
	slices.Sort(uris)
	if want := []string{"/second-purchase/committed", "/welcome/committed"}; !slices.Equal(uris, want) {
		t.Errorf("requests to %v, want %v", uris, want)
	}
	for user, want := range map[string]int{"rolled-back": 0, "committed": 1} {
		users, err := store.Users(ctx, webhook.UserQuery{IDs: []string{user}})
		if err != nil || len(users) != want {
			t.Errorf("users %s = %v, %v; want %d", user, users, err, want)
		}
		events, err := store.Events(ctx, webhook.EventQuery{UserID: user})
		if err != nil || len(events) != 2*want {
			t.Errorf("events of %s = %v, %v; want %d", user, events, err, 2*want)
		}
		jobs, err := store.Jobs(ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{UserID: user}})
		if err != nil || len(jobs) != 2*want {
			t.Errorf("jobs of %s = %v, %v; want %d", user, jobs, err, 2*want)
		}
	}
}
