// Package memstore is an in-memory [webhook.Store], the embedded default. It keeps everything
// in the process's memory and loses it when the process ends: use it for development, tests,
// and apps that can afford to lose pending deliveries; use store/sqlitestore or store/pgstore
// to keep them.
package memstore

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hookline/webhook"
)

// Store is an in-memory [webhook.Store]. Its zero value is not usable; call [New]. A Store is
// safe for concurrent use.
type Store struct {
	mu       sync.Mutex                    // guards every field below
	users    map[string]webhook.User       // by ID
	userIDs  []string                      // the keys of users, sorted unless dirty
	dirty    bool                          // userIDs is missing IDs or out of order
	events   map[string][]webhook.Event    // by user ID, in the order added
	messages map[string][]*webhook.Message // by ID; element i is version i+1
	triggers map[string]map[string]bool    // event name → IDs of messages it triggers
	jobs     map[string]*record            // by ID
	keys     map[string]string             // dedupe key → job ID
	queue    queue                         // scheduled and running jobs by due time
	attempts []webhook.Attempt             // in the order recorded
	unless   map[string][]string           // user ID → IDs of jobs with an Unless event
	sent     map[string][]sent             // user ID → its succeeded attempts, by time
	history  map[historyKey]*history       // events by user and name, in time order
	campaign map[string]*webhook.Campaign  // campaigns by message ID
}

var (
	_ webhook.Store         = (*Store)(nil)
	_ webhook.AttemptPruner = (*Store)(nil)
)

// record is a job with the generation of its latest queue entry; older entries are stale.
type record struct {
	job webhook.Job
	gen uint64
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		users:    map[string]webhook.User{},
		events:   map[string][]webhook.Event{},
		messages: map[string][]*webhook.Message{},
		triggers: map[string]map[string]bool{},
		jobs:     map[string]*record{},
		keys:     map[string]string{},
		unless:   map[string][]string{},
		sent:     map[string][]sent{},
		history:  map[historyKey]*history{},
		campaign: map[string]*webhook.Campaign{},
	}
}

// PutUser implements [webhook.UserStore].
func (s *Store) PutUser(ctx context.Context, u webhook.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; !ok {
		if n := len(s.userIDs); n > 0 && s.userIDs[n-1] >= u.ID {
			s.dirty = true
		}
		s.userIDs = append(s.userIDs, u.ID)
	}
	s.users[u.ID] = u
	return nil
}

// User implements [webhook.UserStore].
func (s *Store) User(ctx context.Context, id string) (webhook.User, error) {
	if err := ctx.Err(); err != nil {
		return webhook.User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return webhook.User{}, webhook.ErrNotFound
	}
	return u, nil
}

// Users implements [webhook.UserStore].
func (s *Store) Users(ctx context.Context, after string, limit int) ([]webhook.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirty {
		slices.Sort(s.userIDs)
		s.dirty = false
	}
	i, found := slices.BinarySearch(s.userIDs, after)
	if found {
		i++
	}
	ids := s.userIDs[i:]
	if len(ids) > limit {
		ids = ids[:max(limit, 0)]
	}
	out := make([]webhook.User, len(ids))
	for i, id := range ids {
		out[i] = s.users[id]
	}
	return out, nil
}

// AddEvent implements [webhook.EventStore]: the event and its jobs are saved together.
func (s *Store) AddEvent(ctx context.Context, e webhook.Event, jobs []*webhook.Job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[e.UserID] = append(s.events[e.UserID], e)
	s.addHistory(e)
	s.enqueue(jobs)
	return nil
}

// PutMessage implements [webhook.MessageStore].
func (s *Store) PutMessage(ctx context.Context, m *webhook.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	versions := s.messages[m.ID]
	if n := len(versions); n > 0 {
		if prev := versions[n-1]; prev.Delivery.Kind == webhook.Triggered {
			delete(s.triggers[prev.Delivery.Event], m.ID)
		}
	}
	c := *m
	c.Version = len(versions) + 1
	s.messages[m.ID] = append(versions, &c)
	if c.Delivery.Kind == webhook.Triggered {
		if s.triggers[c.Delivery.Event] == nil {
			s.triggers[c.Delivery.Event] = map[string]bool{}
		}
		s.triggers[c.Delivery.Event][m.ID] = true
	}
	m.Version = c.Version
	return nil
}

// Message implements [webhook.MessageStore].
func (s *Store) Message(ctx context.Context, id string, version int) (*webhook.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	versions := s.messages[id]
	if version == 0 {
		version = len(versions)
	}
	if version < 1 || version > len(versions) {
		return nil, webhook.ErrNotFound
	}
	c := *versions[version-1]
	return &c, nil
}

// TriggeredMessages implements [webhook.MessageStore].
func (s *Store) TriggeredMessages(ctx context.Context, event string) ([]*webhook.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.triggers[event]))
	for id := range s.triggers[event] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*webhook.Message, len(ids))
	for i, id := range ids {
		versions := s.messages[id]
		c := *versions[len(versions)-1]
		out[i] = &c
	}
	return out, nil
}

// Enqueue implements [webhook.DeliveryStore].
func (s *Store) Enqueue(ctx context.Context, jobs []*webhook.Job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enqueue(jobs)
	return nil
}

func (s *Store) enqueue(jobs []*webhook.Job) {
	for _, j := range jobs {
		if _, dup := s.keys[j.Key]; dup {
			continue
		}
		s.keys[j.Key] = j.ID
		r := &record{job: *j}
		r.job.State = webhook.JobScheduled
		s.jobs[j.ID] = r
		s.indexUnless(&r.job)
		s.schedule(r, j.DueAt)
	}
}

// schedule makes r's queue entry the one due at at, making any older entry stale.
func (s *Store) schedule(r *record, at time.Time) {
	r.gen++
	heap.Push(&s.queue, entry{at: at, id: r.job.ID, gen: r.gen})
}

// Claim implements [webhook.DeliveryStore].
func (s *Store) Claim(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*webhook.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhook.Job
	for len(out) < limit {
		r := s.head()
		if r == nil || s.queue[0].at.After(now) {
			break
		}
		heap.Pop(&s.queue)
		r.job.State = webhook.JobRunning
		r.job.LeaseOwner = owner
		r.job.LeaseExpiresAt = now.Add(lease)
		s.schedule(r, r.job.LeaseExpiresAt)
		c := r.job
		out = append(out, &c)
	}
	return out, nil
}

// head drops stale entries from the front of the queue and returns the record of the first
// live one, or nil.
func (s *Store) head() *record {
	for len(s.queue) > 0 {
		e := s.queue[0]
		if r := s.jobs[e.id]; r != nil && r.gen == e.gen {
			return r
		}
		heap.Pop(&s.queue)
	}
	return nil
}

// Finish implements [webhook.DeliveryStore].
func (s *Store) Finish(ctx context.Context, j *webhook.Job, a *webhook.Attempt) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a != nil {
		s.attempts = append(s.attempts, *a)
		s.indexSent(a)
	}
	r := s.jobs[j.ID]
	if r == nil {
		return webhook.ErrNotFound
	}
	if r.job.State != webhook.JobRunning || r.job.LeaseOwner != j.LeaseOwner {
		return webhook.ErrLeaseLost
	}
	r.job.State = j.State
	r.job.Attempts = j.Attempts
	r.job.DueAt = j.DueAt
	r.job.Request = j.Request
	r.job.LeaseOwner, r.job.LeaseExpiresAt = "", time.Time{}
	if r.job.State == webhook.JobScheduled {
		s.schedule(r, r.job.DueAt)
	} else {
		r.gen++ // no longer queued
	}
	return nil
}

// NextDue implements [webhook.DeliveryStore].
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head() == nil {
		return time.Time{}, false, nil
	}
	return s.queue[0].at, true, nil
}

// Job implements [webhook.DeliveryStore].
func (s *Store) Job(ctx context.Context, id string) (*webhook.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.jobs[id]
	if r == nil {
		return nil, webhook.ErrNotFound
	}
	c := r.job
	return &c, nil
}

// Cancel implements [webhook.DeliveryStore].
func (s *Store) Cancel(ctx context.Context, f webhook.JobFilter) ([]*webhook.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.MessageID == "" && f.UserID == "" {
		return nil, fmt.Errorf("%w: memstore: cancel needs a message or user ID", webhook.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhook.Job
	for r := range s.cancelCandidates(f) {
		if r.job.State != webhook.JobScheduled && r.job.State != webhook.JobHeld || !f.Match(&r.job) {
			continue
		}
		r.job.State, r.job.Request = webhook.JobCancelled, nil
		r.gen++ // no longer queued
		c := r.job
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *webhook.Job) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Attempts implements [webhook.AttemptStore].
func (s *Store) Attempts(ctx context.Context, f webhook.AttemptFilter) ([]webhook.Attempt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []webhook.Attempt
	for i := len(s.attempts) - 1; i >= 0; i-- { // recorded last first, which breaks ties
		if f.Match(&s.attempts[i]) {
			out = append(out, s.attempts[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// DeleteAttempts implements [webhook.AttemptPruner], in one pass over the log. The log's
// memory is given back once it is less than a quarter full.
func (s *Store) DeleteAttempts(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.attempts)
	s.attempts = slices.DeleteFunc(s.attempts, func(a webhook.Attempt) bool { return a.Time.Before(before) })
	if len(s.attempts) < cap(s.attempts)/4 {
		s.attempts = slices.Clone(s.attempts)
	}
	for user, index := range s.sent {
		i, _ := slices.BinarySearchFunc(index, before, func(e sent, t time.Time) int { return e.at.Compare(t) })
		switch {
		case i == len(index):
			delete(s.sent, user)
		case i > 0:
			s.sent[user] = slices.Clone(index[i:])
		}
	}
	return n - len(s.attempts), nil
}

// entry is a job's place in the queue.
type entry struct {
	at  time.Time
	id  string
	gen uint64
}

// queue is a min-heap of entries by time, then job ID.
type queue []entry

func (q queue) Len() int { return len(q) }

func (q queue) Less(i, j int) bool {
	if c := q[i].at.Compare(q[j].at); c != 0 {
		return c < 0
	}
	return cmp.Less(q[i].id, q[j].id)
}

func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

func (q *queue) Push(x any) { *q = append(*q, x.(entry)) }

func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
