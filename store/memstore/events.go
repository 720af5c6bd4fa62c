package memstore

import (
	"cmp"
	"context"
	"slices"
	"sort"

	"github.com/hookline/webhook"
)

// historyKey identifies one user's events of one name.
type historyKey struct{ user, name string }

// eventKey identifies an event for deduplication: its user and ID.
type eventKey struct{ user, id string }

// history is one user's events of one name, in time order (events with the same time in the
// order added).
type history struct {
	events []storedEvent
}

// storedEvent is an event and its place in the order events were saved.
type storedEvent struct {
	webhook.Event
	seq uint64
}

// addEvent saves e, unless an event with its user and ID was saved. The caller holds s.mu.
func (s *Store) addEvent(e webhook.Event) {
	id := eventKey{e.UserID, e.ID}
	if s.eventIDs[id] {
		return
	}
	s.eventIDs[id] = true
	s.seq++
	k := historyKey{e.UserID, e.Name}
	h := s.events[k]
	if h == nil {
		h = &history{}
		s.events[k] = h
		s.names[e.UserID] = append(s.names[e.UserID], e.Name)
	}
	i := len(h.events)
	if i > 0 && h.events[i-1].Time.After(e.Time) { // out of order: rare
		i = sort.Search(len(h.events), func(j int) bool { return h.events[j].Time.After(e.Time) })
	}
	h.events = slices.Insert(h.events, i, storedEvent{e, s.seq})
}

// Events implements [webhook.EventStore]. It finds the window of each name by binary search,
// so its cost is O(log n) in the user's events of that name plus the events in the window.
func (s *Store) Events(ctx context.Context, q webhook.EventQuery) ([]webhook.Event, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	names := q.Names
	if len(names) == 0 {
		names = s.names[q.UserID]
	}
	var found []storedEvent
	for _, name := range names {
		h := s.events[historyKey{q.UserID, name}]
		if h == nil {
			continue
		}
		lo, hi := 0, len(h.events)
		if !q.Since.IsZero() {
			lo = sort.Search(hi, func(i int) bool { return !h.events[i].Time.Before(q.Since) })
		}
		if !q.Until.IsZero() {
			hi = sort.Search(hi, func(i int) bool { return h.events[i].Time.After(q.Until) })
		}
		found = append(found, h.events[lo:hi]...)
	}
	if len(names) > 1 {
		slices.SortFunc(found, func(a, b storedEvent) int {
			if c := a.Time.Compare(b.Time); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
	}
	out := make([]webhook.Event, len(found))
	for i, e := range found {
		out[i] = e.Event
	}
	return out, nil
}
