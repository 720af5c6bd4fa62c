package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// notifyingStore is a memstore whose notifications the test sends.
type notifyingStore struct {
	*memstore.Store
	ch  chan struct{}
	ctx chan context.Context // receives the context of each Notifications call
}

func (s *notifyingStore) Notifications(ctx context.Context) <-chan struct{} {
	s.ctx <- ctx
	out := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.ch:
				out <- struct{}{}
			}
		}
	}()
	return out
}

// TestNotifierWakesSender checks that a started Sender sends at once a job that another
// process enqueued when its Store notifies it, rather than at its next poll, and that it
// stops listening before Stop returns.
func TestNotifierWakesSender(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store := &notifyingStore{Store: memstore.New(), ch: make(chan struct{}), ctx: make(chan context.Context, 1)}
	clock := webhooktest.NewFakeClock(epoch)
	recv := webhooktest.NewReceiver(t)
	s, _ := webhooktest.NewSender(t, store, &webhook.Config{Clock: clock, PollInterval: time.Hour})
	m := &webhook.Message{ID: "m", URL: recv.URL + "/hook"}
	if err := s.SaveMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var listening context.Context
	select {
	case listening = <-store.ctx:
	case <-ctx.Done():
		t.Fatal("the started Sender did not ask its Store for notifications")
	}
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Another process enqueues a job, which this Sender's wake-up does not see.
	_, err := store.Enqueue(ctx, webhook.EnqueueParams{Jobs: []*webhook.Job{{ID: "job_1", Key: "k1", MessageID: "m",
		MessageVersion: m.Version, UserID: "u1", State: webhook.JobScheduled, CreatedAt: epoch, DueAt: epoch}}})
	if err != nil {
		t.Fatal(err)
	}
	store.ch <- struct{}{}
	if _, err := recv.Wait(ctx, 1); err != nil {
		t.Fatalf("no request after the notification: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if listening.Err() == nil {
		t.Error("Stop returned while the Sender was still listening for notifications")
	}
}
