package memstore

import (
	"context"
	"sort"
	"time"

	"github.com/hookline/webhook"
)

// historyKey identifies one user's events of one name.
type historyKey struct{ user, name string }

// history is one user's events of one name, in time order (events with the same time in
// the order added).
type history struct {
	times  []time.Time
	params []webhook.Map
}

// addHistory indexes e. The caller holds s.mu.
func (s *Store) addHistory(e webhook.Event) {
	k := historyKey{e.UserID, e.Name}
	h := s.history[k]
	if h == nil {
		h = &history{}
		s.history[k] = h
	}
	i := len(h.times)
	if i > 0 && h.times[i-1].After(e.Time) { // out of order: rare
		i = sort.Search(len(h.times), func(j int) bool { return h.times[j].After(e.Time) })
	}
	h.times = append(h.times, time.Time{})
	copy(h.times[i+1:], h.times[i:])
	h.times[i] = e.Time
	h.params = append(h.params, nil)
	copy(h.params[i+1:], h.params[i:])
	h.params[i] = e.Params
}

// EventStats implements [webhook.EventHistoryStore]. It finds the window by binary search;
// with neither Where nor Param it costs O(log n) in the user's events of that name, and
// otherwise O(log n) plus the events in the window.
func (s *Store) EventStats(ctx context.Context, q webhook.EventQuery) (webhook.EventStats, error) {
	var st webhook.EventStats
	if err := ctx.Err(); err != nil {
		return st, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.history[historyKey{q.UserID, q.Name}]
	if h == nil {
		return st, nil
	}
	lo, hi := 0, len(h.times)
	if !q.Since.IsZero() {
		lo = sort.Search(hi, func(i int) bool { return !h.times[i].Before(q.Since) })
	}
	if !q.Until.IsZero() {
		hi = sort.Search(hi, func(i int) bool { return h.times[i].After(q.Until) })
	}
	if lo >= hi {
		return st, nil
	}
	if q.Where == nil && q.Param == "" {
		st.Count, st.First, st.Last = hi-lo, h.times[lo], h.times[hi-1]
		return st, nil
	}
	match := q.Where.Matcher()
	for i := lo; i < hi; i++ {
		if !match(h.params[i]) {
			continue
		}
		var v any
		if q.Param != "" {
			v = h.params[i][q.Param]
		}
		st.Add(h.times[i], v)
	}
	return st, nil
}
