package webhook

import (
	"context"
	"sync"
	"time"
)

// catalog is what the Sender reads of its messages on every send, trigger and attempt, read
// from the Store at most once per PollInterval instead of each time: the current version of
// every message, the Triggered messages by event, the events that cancel pending jobs
// (Delivery.Unless), and the states of campaigns.
// A change this Sender makes to a message or a campaign makes it read them again at its next
// use; a change made by another Sender sharing the Store is seen within PollInterval (a
// notification from the Store does not make it read them again: a Store notifies after every
// enqueue). It is safe for concurrent use.
type catalog struct {
	store Store
	clock Clock
	ttl   time.Duration

	mu   sync.Mutex // guards the fields below
	snap *catalogSnapshot
	read time.Time // when snap was read; zero if it must be read again
}

// catalogSnapshot is the catalog as read at one time. It is not changed once read, but for
// gone.
type catalogSnapshot struct {
	messages  map[string]*Message      // ID → the current version of the message, if not deleted
	triggered map[string][]*Message    // event name → the messages it triggers, in ID order
	unless    map[string]bool          // the event names some message's Delivery.Unless names
	states    map[string]CampaignState // message ID → its campaign's state, if it has one
	// gone holds the IDs of deleted messages that a Send asked for (see
	// Sender.currentMessage), so that another Send of one reads nothing more.
	gone sync.Map
}

// catalogPage is how many messages the catalog reads at a time.
const catalogPage = 1000

// get returns the catalog, reading it from the Store if it is older than the TTL.
func (c *catalog) get(ctx context.Context) (*catalogSnapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	if c.snap != nil && !c.read.IsZero() && now.Sub(c.read) < c.ttl && !now.Before(c.read) {
		return c.snap, nil
	}
	snap, err := readCatalog(ctx, c.store)
	if err != nil {
		return nil, err
	}
	c.snap, c.read = snap, now
	return snap, nil
}

// invalidate makes the next get read the catalog again.
func (c *catalog) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = time.Time{}
}

// readCatalog reads the catalog from store: every message that is not deleted, and every
// campaign.
func readCatalog(ctx context.Context, store Store) (*catalogSnapshot, error) {
	snap := &catalogSnapshot{messages: map[string]*Message{}, triggered: map[string][]*Message{},
		unless: map[string]bool{}, states: map[string]CampaignState{}}
	var ids []string
	for after := ""; ; {
		ms, err := store.Messages(ctx, MessageQuery{After: after, Limit: catalogPage})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			ids = append(ids, m.ID)
			snap.messages[m.ID] = m
			if d := &m.Delivery; d.kind() == Triggered {
				snap.triggered[d.Event] = append(snap.triggered[d.Event], m)
				if d.Unless != "" {
					snap.unless[d.Unless] = true
				}
			}
		}
		if len(ms) < catalogPage {
			break
		}
		after = ms[len(ms)-1].ID
	}
	for len(ids) > 0 {
		n := min(len(ids), catalogPage)
		cs, err := store.Campaigns(ctx, CampaignQuery{MessageIDs: ids[:n]})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			snap.states[c.MessageID] = c.State
		}
		ids = ids[n:]
	}
	return snap, nil
}
