package webhook

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// versionCache keeps what a Sender compiles from saved messages, by message ID: for the newest
// version compiled, and for the last older version a job needed, since jobs
// enqueued before a new version was saved keep theirs. Its zero value is empty and ready; it
// is safe for concurrent use.
type versionCache[T any] struct {
	mu            sync.Mutex
	newest, older map[string]versioned[T] // by message ID
}

// versioned is a value compiled from one version of a message.
type versioned[T any] struct {
	version int
	value   T
}

// get returns the value kept for the version of message id, if any.
func (c *versionCache[T]) get(id string, version int) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.newest[id]; ok && e.version == version {
		return e.value, true
	}
	if e, ok := c.older[id]; ok && e.version == version {
		return e.value, true
	}
	var zero T
	return zero, false
}

// put keeps v for the version of message id: as the newest, unless a newer one is kept, in
// which case as the older one. The newest it replaces becomes the older one.
func (c *versionCache[T]) put(id string, version int, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.newest == nil {
		c.newest, c.older = map[string]versioned[T]{}, map[string]versioned[T]{}
	}
	e, ok := c.newest[id]
	switch {
	case ok && e.version > version:
		c.older[id] = versioned[T]{version, v}
		return
	case ok && e.version < version:
		c.older[id] = e // its deliveries may still be due
	}
	c.newest[id] = versioned[T]{version, v}
}

// messageCache compiles the versions of saved messages once: the templates, the audience and
// the event filter of a version are compiled on first use and kept as [versionCache] keeps
// them. It is safe for concurrent use.
type messageCache struct {
	store    MessageStore
	engine   *engine
	compiled versionCache[*compiledMessage]
}

// get returns the compiled version of a message, loading it from the Store on first use.
func (c *messageCache) get(ctx context.Context, id string, version int) (*compiledMessage, error) {
	if cm, ok := c.compiled.get(id, version); ok {
		return cm, nil
	}
	m, err := loadMessage(ctx, c.store, id, version)
	if err != nil {
		return nil, fmt.Errorf("load message %q version %d: %w", id, version, err)
	}
	return c.add(m)
}

// add compiles a saved message version and keeps it.
func (c *messageCache) add(m *Message) (*compiledMessage, error) {
	cm, err := c.engine.compile(m)
	if err != nil {
		return nil, err
	}
	c.compiled.put(m.ID, m.Version, cm)
	return cm, nil
}

// loadMessage returns a version of a message from store (its current version if version is
// 0), or ErrNotFound.
func loadMessage(ctx context.Context, store MessageStore, id string, version int) (*Message, error) {
	ms, err := store.Messages(ctx, MessageQuery{ID: id, Version: version})
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, ErrNotFound
	}
	return ms[0], nil
}

// zones are the time zones of users, each loaded once. It is safe for concurrent use.
type zones struct {
	def    *time.Location // for users without a time zone: Config.DefaultTimeZone
	loaded sync.Map       // time zone name → *time.Location
}

// of returns u's time zone, or the default time zone if u has none. Identify accepts only
// time zones that load, so an unknown one (from a Store written by other code) is treated
// as none.
func (z *zones) of(u *User) *time.Location {
	if u.TimeZone == "" {
		return z.def
	}
	if loc, ok := z.loaded.Load(u.TimeZone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(u.TimeZone)
	if err != nil {
		return z.def
	}
	z.loaded.Store(u.TimeZone, loc)
	return loc
}
