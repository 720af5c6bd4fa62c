package memstore

import (
	"context"
	"slices"

	"github.com/hookline/webhook"
)

// messageVersions are the versions of one message; element i is version i+1.
type messageVersions struct {
	versions []*webhook.Message
	deleted  bool
}

// current returns the current version.
func (mv *messageVersions) current() *webhook.Message { return mv.versions[len(mv.versions)-1] }

// PutMessage implements [webhook.MessageStore].
func (s *Store) PutMessage(ctx context.Context, m *webhook.Message) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	mv := s.messages[m.ID]
	if mv == nil {
		mv = &messageVersions{}
		s.messages[m.ID] = mv
	} else {
		s.untrigger(mv)
	}
	c := *m
	c.Version = len(mv.versions) + 1
	mv.versions = append(mv.versions, &c)
	mv.deleted = false
	if c.Delivery.Kind == webhook.Triggered {
		if s.triggers[c.Delivery.Event] == nil {
			s.triggers[c.Delivery.Event] = map[string]bool{}
		}
		s.triggers[c.Delivery.Event][m.ID] = true
	}
	m.Version = c.Version
	return nil
}

// untrigger removes the current version of a message from the triggers of its event.
func (s *Store) untrigger(mv *messageVersions) {
	if cur := mv.current(); cur.Delivery.Kind == webhook.Triggered {
		delete(s.triggers[cur.Delivery.Event], cur.ID)
	}
}

// DeleteMessage implements [webhook.MessageStore].
func (s *Store) DeleteMessage(ctx context.Context, id string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	mv := s.messages[id]
	if mv == nil {
		return webhook.ErrNotFound
	}
	if !mv.deleted {
		s.untrigger(mv)
		mv.deleted = true
	}
	return nil
}

// Messages implements [webhook.MessageStore].
func (s *Store) Messages(ctx context.Context, q webhook.MessageQuery) ([]*webhook.Message, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var ids []string
	switch {
	case q.ID != "":
		mv := s.messages[q.ID]
		version := q.Version
		if mv != nil && version == 0 {
			version = len(mv.versions)
		}
		if mv == nil || version < 1 || version > len(mv.versions) {
			return nil, nil
		}
		c := *mv.versions[version-1]
		return []*webhook.Message{&c}, nil
	case q.Event != "":
		for id := range s.triggers[q.Event] {
			ids = append(ids, id)
		}
	default:
		for id, mv := range s.messages {
			if !mv.deleted && id > q.After {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	if q.Event == "" && len(ids) > q.Limit {
		ids = ids[:max(q.Limit, 0)]
	}
	out := make([]*webhook.Message, len(ids))
	for i, id := range ids {
		c := *s.messages[id].current()
		out[i] = &c
	}
	return out, nil
}
