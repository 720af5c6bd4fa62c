package webhook

import "sync"

// versionCache keeps what a Sender compiles from saved messages, by message ID: for the newest
// version compiled, and for the last older version a delivery needed, since deliveries
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
