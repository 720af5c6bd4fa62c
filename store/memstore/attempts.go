package memstore

import (
	"context"
	"encoding/binary"
	"net/http"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// attemptChunk is the number of attempts in each chunk of an attemptLog.
const attemptChunk = 1024

// storedAttempt is an attempt as the log keeps it: its request and response headers packed
// into one string (see packHeaders), which holds no pointers for the garbage collector to
// follow and is about a tenth of the size of the maps it was; the embedded Attempt's headers
// are nil.
type storedAttempt struct {
	webhook.Attempt
	headers string
}

// attemptLog is the attempt log in the order recorded, in chunks of attemptChunk attempts, so
// that it grows without copying the attempts it holds, as one slice would at each growth.
// The zero value is an empty log.
type attemptLog struct {
	chunks [][]storedAttempt // each full but the last
	n      int
}

// add appends a and returns its position.
func (l *attemptLog) add(a *webhook.Attempt) int {
	st := storedAttempt{Attempt: *a, headers: packHeaders(a.RequestHeader, a.ResponseHeader)}
	st.RequestHeader, st.ResponseHeader = nil, nil
	return l.addStored(&st)
}

// addStored appends st and returns its position.
func (l *attemptLog) addStored(st *storedAttempt) int {
	if l.n%attemptChunk == 0 {
		l.chunks = append(l.chunks, make([]storedAttempt, 0, attemptChunk))
	}
	last := len(l.chunks) - 1
	l.chunks[last] = append(l.chunks[last], *st)
	l.n++
	return l.n - 1
}

// stored returns the attempt at position p, which is less than len, as the log keeps it.
func (l *attemptLog) stored(p int) *storedAttempt {
	return &l.chunks[p/attemptChunk][p%attemptChunk]
}

// at returns the attempt at position p, which is less than len, without its headers: what
// queries match and what a Brief query returns.
func (l *attemptLog) at(p int) *webhook.Attempt {
	return &l.stored(p).Attempt
}

// full returns a copy of the attempt at position p, which is less than len, with its headers.
func (l *attemptLog) full(p int) webhook.Attempt {
	st := l.stored(p)
	a := st.Attempt
	a.RequestHeader, a.ResponseHeader = unpackHeaders(st.headers)
	return a
}

// len returns the number of attempts in the log.
func (l *attemptLog) len() int { return l.n }

// packHeaders returns req and resp in a string that unpackHeaders reads back: "" if both
// are nil, else each in turn as the number of its keys plus one (zero for a nil header), then
// each key, the number of its values plus one (zero for a nil slice) and each value, every
// string after its length; numbers are uvarints.
func packHeaders(req, resp http.Header) string {
	if req == nil && resp == nil {
		return ""
	}
	var buf [512]byte // most attempts' headers: the string is the one allocation
	b := buf[:0]
	for _, h := range []http.Header{req, resp} {
		b = appendCount(b, len(h), h == nil)
		for k, vs := range h {
			b = appendText(b, k)
			b = appendCount(b, len(vs), vs == nil)
			for _, v := range vs {
				b = appendText(b, v)
			}
		}
	}
	return string(b)
}

// appendCount appends the count n of a header's keys or of a key's values as packHeaders
// writes it: zero if the header or the values are nil, else n plus one.
func appendCount(b []byte, n int, isNil bool) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n+1))
}

// appendText appends t to b after its length, as packHeaders writes every string.
func appendText(b []byte, t string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(t))), t...)
}

// unpackHeaders returns the headers that packHeaders packed into s, as new maps whose keys and
// values are substrings of s.
func unpackHeaders(s string) (req, resp http.Header) {
	if s == "" {
		return nil, nil
	}
	number := func() int { // binary.Uvarint on s, without a copy of it into a []byte
		x, shift := 0, 0
		for {
			c := s[0]
			s = s[1:]
			x |= int(c&0x7f) << shift
			if c < 0x80 {
				return x
			}
			shift += 7
		}
	}
	text := func() string {
		n := number()
		t := s[:n]
		s = s[n:]
		return t
	}
	header := func() http.Header {
		keys := number() - 1
		if keys < 0 {
			return nil
		}
		h := make(http.Header, keys)
		values := make([]string, 0, keys) // mostly one array for all the values, as http.Header.Clone makes; never nil
		for range keys {
			k := text()
			count := number()
			if count == 0 {
				h[k] = nil
				continue
			}
			start := len(values)
			for range count - 1 {
				values = append(values, text())
			}
			h[k] = values[start:len(values):len(values)]
		}
		return h
	}
	req = header()
	return req, header()
}

// addAttempt appends a to the log, and to its user's index of succeeded attempts if it
// succeeded. Attempts arrive in about the order of their times, so the insertion point is
// found from the end. The caller holds s.mu.
func (s *Store) addAttempt(a webhook.Attempt) {
	s.lastSeq++
	a.Seq = s.lastSeq
	s.indexSent(s.attempts.add(&a))
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
// caps ask for, are found by binary search in the user's index; other queries scan the log
// for the positions of the attempts they select, and copy only those they return.
func (s *Store) Attempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if q.Brief && q.UserID != "" && q.JobID == "" && slices.Equal(q.Outcomes, []webhook.Outcome{webhook.Succeeded}) {
		index := s.sent[q.UserID]
		i, _ := slices.BinarySearchFunc(index, q.Since, func(p int, t time.Time) int { return s.attempts.at(p).Time.Compare(t) })
		out := []webhook.Attempt{}
		for k := len(index) - 1; k >= i && (q.Limit <= 0 || len(out) < q.Limit); k-- { // newest first
			if a := s.attempts.at(index[k]); q.Match(a) {
				out = append(out, brief(a))
			}
		}
		return out, nil
	}
	var found []int // positions in the log, recorded last first, which breaks ties
	for p := s.attempts.len() - 1; p >= 0; p-- {
		if q.Match(s.attempts.at(p)) {
			found = append(found, p)
		}
	}
	return s.attempts.page(found, func(a, b *webhook.Attempt) int { return b.Time.Compare(a.Time) }, q.Limit), nil
}

// page sorts the positions found by cmp of their attempts, keeping the order of those it
// finds equal, and returns copies of the first limit of them (all if limit is 0), with their
// headers: a page of the log costs copies of its own attempts only.
func (l *attemptLog) page(found []int, cmp func(a, b *webhook.Attempt) int, limit int) []webhook.Attempt {
	found = firstPage(found, func(p, q int) int { return cmp(l.at(p), l.at(q)) }, limit)
	out := make([]webhook.Attempt, len(found))
	for k, p := range found {
		out[k] = l.full(p)
	}
	return out
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
		if st := s.attempts.stored(p); !st.Time.Before(before) {
			kept.addStored(st)
		}
	}
	s.attempts = kept // the positions moved
	clear(s.sent)
	for p := range kept.len() {
		s.indexSent(p)
	}
	return deleted, nil
}
