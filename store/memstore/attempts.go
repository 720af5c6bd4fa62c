package memstore

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/hookline/webhook"
)

// attemptChunk is the number of attempts in each chunk of an attemptLog.
const attemptChunk = 1024

// attemptLog is the attempt log in the order recorded, in chunks of attemptChunk attempts, so
// that it grows without copying the attempts it holds, as one slice would at each growth.
// The zero value is an empty log.
type attemptLog struct {
	chunks [][]webhook.Attempt // each full but the last
	n      int
}

// add appends a and returns its position.
func (l *attemptLog) add(a webhook.Attempt) int {
	if l.n%attemptChunk == 0 {
		l.chunks = append(l.chunks, make([]webhook.Attempt, 0, attemptChunk))
	}
	last := len(l.chunks) - 1
	l.chunks[last] = append(l.chunks[last], a)
	l.n++
	return l.n - 1
}

// at returns the attempt at position p, which is less than len.
func (l *attemptLog) at(p int) *webhook.Attempt {
	return &l.chunks[p/attemptChunk][p%attemptChunk]
}

// len returns the number of attempts in the log.
func (l *attemptLog) len() int { return l.n }

// addAttempt appends a to the log, and to its user's index of succeeded attempts if it
// succeeded. Attempts arrive in about the order of their times, so the insertion point is
// found from the end. The caller holds s.mu.
func (s *Store) addAttempt(a webhook.Attempt) {
	s.lastSeq++
	a.Seq = s.lastSeq
	s.indexSent(s.attempts.add(a))
}

// indexSent adds the attempt at position p of the log to its user's index if it succeeded.
// The index holds positions, not copies: a user's caps read it on every attempt, and it grows
// with every success.
func (s *Store) indexSent(p int) {
	a := s.attempts.at(p)
	if a.Outcome != webhook.Succeeded {
		return
	}
	index := s.sent[a.UserID]
	i := len(index)
	for i > 0 && s.attempts.at(index[i-1]).Time.After(a.Time) {
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
		i, _ := slices.BinarySearchFunc(index, q.Since, func(p int, t time.Time) int { return s.attempts.at(p).Time.Compare(t) })
		for k := len(index) - 1; k >= i; k-- { // newest first
			if a := s.attempts.at(index[k]); q.Match(a) {
				out = append(out, brief(a))
			}
		}
	} else {
		for i := s.attempts.len() - 1; i >= 0; i-- { // recorded last first, which breaks ties
			if a := s.attempts.at(i); q.Match(a) {
				out = append(out, *a)
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// DeleteAttempts implements [webhook.AttemptPruner] with a pass over the log, and when it
// deletes any, a copy of the rest into a new log: the memory of what it deleted is given
// back.
func (s *Store) DeleteAttempts(ctx context.Context, before time.Time) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n, deleted := s.attempts.len(), 0
	for p := range n {
		if s.attempts.at(p).Time.Before(before) {
			deleted++
		}
	}
	if deleted == 0 {
		return 0, nil
	}
	var kept attemptLog
	for p := range n {
		if a := s.attempts.at(p); !a.Time.Before(before) {
			kept.add(*a)
		}
	}
	s.attempts = kept // the positions moved
	clear(s.sent)
	for p := range kept.len() {
		s.indexSent(p)
	}
	return deleted, nil
}
