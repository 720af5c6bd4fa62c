package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

var notifierRules = []rule{
	{"NotificationsReceivesAValueAfterEnqueue", testNotifyEnqueue},
	{"NotificationsIsClosedWhenItsContextEnds", testNotifyClose},
}

// notifyWait bounds how long the Notifier rules wait for what a Notifier must do "soon": long
// enough for a loaded machine, short enough to fail rather than hang.
const notifyWait = 30 * time.Second

// notifier returns s as a Notifier, or skips the rule.
func notifier(t *testing.T, s webhook.Store) webhook.Notifier {
	t.Helper()
	n, ok := s.(webhook.Notifier)
	if !ok {
		t.Skip("the Store does not implement webhook.Notifier, an optional role")
	}
	return n
}

func testNotifyEnqueue(t *testing.T, s webhook.Store) {
	n := notifier(t, s)
	ch := n.Notifications(t.Context())
	enqueue(t, s, 0)
	timer := time.NewTimer(notifyWait)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Errorf("Notifications received nothing within %v of an Enqueue that committed", notifyWait)
	}
}

func testNotifyClose(t *testing.T, s webhook.Store) {
	n := notifier(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	ch := n.Notifications(ctx)
	cancel()
	timer := time.NewTimer(notifyWait)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("Notifications was not closed within %v of its context's end", notifyWait)
		}
	}
}
