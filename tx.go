package webhook

import (
	"context"
	"slices"
)

// Tx records users, events and jobs through a view of the Sender's Store that reads and
// writes in the host app's own database transaction, so that they are saved if and only if
// that transaction commits (the outbox pattern): no webhook is sent for a signup the app
// rolled back, and none is lost for one it committed. Get one with [Sender.InTx]; it is
// meant for one transaction.
//
// Its methods behave as the Sender's of the same names, reading through the transaction too:
// audiences are checked against what the transaction sees, the users and events it saved
// before included. The Sender sends the jobs once the transaction commits: at once if the
// Store is a [Notifier], else within Config.PollInterval.
type Tx struct {
	s     *Sender
	store Store
}

// InTx returns a Tx that reads and writes through store, a view of the Sender's Store bound
// to the host app's transaction, such as pgstore's and sqlitestore's WithTx return. store
// must be a view of the Sender's Store (the same database), or the jobs are never sent. The
// methods of a Tx whose store is nil return an error wrapping ErrInvalid.
func (s *Sender) InTx(store Store) *Tx { return &Tx{s: s, store: store} }

// check returns an error if t cannot be used.
func (t *Tx) check() error {
	if err := t.s.made(); err != nil {
		return err
	}
	if t.store == nil {
		return invalidf("webhook: Tx: nil Store")
	}
	return nil
}

// Identify is [Sender.Identify] in the transaction.
func (t *Tx) Identify(ctx context.Context, u User) error {
	if err := t.check(); err != nil {
		return err
	}
	return t.s.updateUsers(ctx, t.store, []UserUpdate{{User: u}})
}

// UpdateUsers is [Sender.UpdateUsers] in the transaction.
func (t *Tx) UpdateUsers(ctx context.Context, updates []UserUpdate) error {
	if err := t.check(); err != nil {
		return err
	}
	return t.s.updateUsers(ctx, t.store, updates)
}

// Trigger is [Sender.Trigger] in the transaction.
func (t *Tx) Trigger(ctx context.Context, e Event) error {
	if err := t.check(); err != nil {
		return err
	}
	return t.s.trigger(ctx, t.store, true, []Event{e})
}

// TriggerMany is [Sender.TriggerMany] in the transaction.
func (t *Tx) TriggerMany(ctx context.Context, events []Event) error {
	if err := t.check(); err != nil {
		return err
	}
	return t.s.trigger(ctx, t.store, true, slices.Clone(events))
}

// Send is [Sender.Send] in the transaction.
func (t *Tx) Send(ctx context.Context, messageID, userID string, params map[string]any, opts *SendOptions) (string, error) {
	if err := t.check(); err != nil {
		return "", err
	}
	return t.s.send(ctx, t.store, true, messageID, userID, params, opts)
}
