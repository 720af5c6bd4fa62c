package webhook

import (
	"context"
)

// Notifier is implemented by a [Store] that can tell a Sender that deliveries were enqueued
// elsewhere, such as by another process sharing the database, so that the Sender sends them
// at once rather than at its next poll (see Config.PollInterval). A started Sender uses it
// if its Store has it.
type Notifier interface {
	// Notifications returns a channel that receives a value soon after any change to the
	// Store, by any process, that may have made deliveries due sooner than the Store's
	// NextDue said before, such as an Enqueue or AddEvent that committed. It may also
	// receive values when nothing changed, such as after it reconnects to a database,
	// when it may have missed a change. Values are not counted: the channel holds at most
	// one, and a receiver that was slow sees at least one value after the latest change.
	// The Store stops sending and closes the channel soon after ctx is cancelled, and not
	// before. While the Store cannot listen (its database is unreachable) it sends nothing,
	// and the Sender still finds work by polling.
	//
	// On each value the Sender also reads again when the next campaign fan-out is due
	// ([CampaignStore.NextCampaignDue]), which it otherwise does once per PollInterval: a
	// Store may send one after a change that makes a fan-out due sooner, such as a campaign
	// started or resumed, so that every Sender starts it at once.
	Notifications(ctx context.Context) <-chan struct{}
}

// listen wakes the dispatcher on the Store's notifications, if it is a Notifier, until the
// returned function is called, which waits until the Store has stopped sending them.
func (s *Sender) listen(ctx context.Context) (stop func()) {
	n, ok := s.store.(Notifier)
	if !ok {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := n.Notifications(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
			s.wake()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// TriggerTx is [Sender.Trigger] with its writes going to store instead of the Sender's Store:
// the transactional trigger. Pass a view of the Sender's Store that writes through the host
// app's own database transaction, such as one from pgstore's WithTx, and the event and its
// deliveries are saved if and only if that transaction commits (the outbox pattern): no
// webhook is sent for work the app rolled back, and none is lost for work it committed.
//
// The Sender finds the deliveries once the transaction commits: at once if the Store is a
// [Notifier], else within Config.PollInterval. store must be a view of the Sender's Store
// (the same database), or the deliveries are never sent. It returns an error wrapping
// ErrInvalid if store is nil, and otherwise what Trigger returns.
func (s *Sender) TriggerTx(ctx context.Context, store Store, e Event) error {
	if err := s.made(); err != nil {
		return err
	}
	if store == nil {
		return invalidf("webhook: TriggerTx: nil Store")
	}
	return s.trigger(ctx, store, e)
}
