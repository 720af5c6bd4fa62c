package memstore

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/hookline/webhook"
)

// addAttempt appends a to the log, and to its user's index of succeeded attempts if it
// succeeded. Attempts arrive in about the order of their times, so the insertion point is
// found from the end. The caller holds s.mu.
func (s *Store) addAttempt(a webhook.Attempt) {
	s.lastSeq++
	a.Seq = s.lastSeq
	s.attempts = append(s.attempts, a)
	s.indexSent(len(s.attempts) - 1)
}

// indexSent adds the attempt at position p of the log to its user's index if it succeeded.
// The index holds positions, not copies: a user's caps read it on every attempt, and it grows
// with every success.
func (s *Store) indexSent(p int) {
	a := &s.attempts[p]
	if a.Outcome != webhook.Succeeded {
		return
	}
	index := s.sent[a.UserID]
	i := len(index)
	for i > 0 && s.attempts[index[i-1]].Time.After(a.Time) {
		i--
	}
	s.sent[a.UserID] = slices.Insert(index, i, p)
}

// brief returns the fields of a that a Brief query returns.
func brief(a *webhook.Attempt) webhook.Attempt {
	return webhook.Attempt{
		JobID: a.JobID, MessageID: a.MessageID, UserID: a.UserID, Variant: a.Variant, Number: a.Number,
		Time: a.Time, Outcome: a.Outcome, IgnoreCaps: a.IgnoreCaps, Test: a.Test,
	}
}

// Attempts implements [webhook.AttemptStore]. A user's succeeded attempts since a time, which
// caps ask for, are found by binary search in the user's index; other queries scan the log.
func (s *Store) Attempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []webhook.Attempt
	if q.Brief && q.UserID != "" && q.JobID == "" && slices.Equal(q.Outcomes, []webhook.Outcome{webhook.Succeeded}) {
		index := s.sent[q.UserID]
		i, _ := slices.BinarySearchFunc(index, q.Since, func(p int, t time.Time) int { return s.attempts[p].Time.Compare(t) })
		for k := len(index) - 1; k >= i; k-- { // newest first
			if a := &s.attempts[index[k]]; q.Match(a) {
				out = append(out, brief(a))
			}
		}
	} else {
		for i := len(s.attempts) - 1; i >= 0; i-- { // recorded last first, which breaks ties
			if q.Match(&s.attempts[i]) {
				out = append(out, s.attempts[i])
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// DeleteAttempts implements [webhook.AttemptPruner], in one pass over the log. The log's
// memory is given back once it is less than a quarter full.
func (s *Store) DeleteAttempts(ctx context.Context, before time.Time) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := len(s.attempts)
	s.attempts = slices.DeleteFunc(s.attempts, func(a webhook.Attempt) bool { return a.Time.Before(before) })
	if len(s.attempts) < cap(s.attempts)/4 {
		s.attempts = slices.Clone(s.attempts)
	}
	if len(s.attempts) < n { // the positions moved
		clear(s.sent)
		for p := range s.attempts {
			s.indexSent(p)
		}
	}
	return n - len(s.attempts), nil
}
