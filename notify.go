package webhook

import (
	"context"
)

// Notifier is implemented by a [Store] that can tell a Sender that jobs were enqueued
// elsewhere, such as by another process sharing the database, so that the Sender sends them
// at once rather than at its next poll (see Config.PollInterval). A started Sender uses it
// if its Store has it.
type Notifier interface {
	// Notifications returns a channel that receives a value soon after any change to the
	// Store, by any process, that may have made jobs due sooner than the Store's
	// NextDue said before, such as an Enqueue that committed. It may also
	// receive values when nothing changed, such as after it reconnects to a database,
	// when it may have missed a change. Values are not counted: the channel holds at most
	// one, and a receiver that was slow sees at least one value after the latest change.
	// The Store stops sending and closes the channel soon after ctx is cancelled, and not
	// before. While the Store cannot listen (its database is unreachable) it sends nothing,
	// and the Sender still finds work by polling.
	//
	// On each value the Sender also reads again when the next campaign fan-out is due
	// (with [CampaignStore.LeaseCampaign]), which it otherwise does once per PollInterval: a
	// Store may send one after a change that makes a fan-out due sooner, such as a campaign
	// started or resumed, so that every Sender starts it at once.
	Notifications(ctx context.Context) <-chan struct{}
}
