package memstore

import (
	"context"
	"slices"

	"github.com/hookline/webhook"
)

// PutUsers implements [webhook.UserStore].
func (s *Store) PutUsers(ctx context.Context, p webhook.PutUsersParams) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, up := range p.Users {
		old, ok := s.users[up.User.ID]
		if !ok {
			if n := len(s.userIDs); n > 0 && s.userIDs[n-1] >= up.User.ID {
				s.dirty = true
			}
			s.userIDs = append(s.userIDs, up.User.ID)
			s.users[up.User.ID] = up.Apply(nil, p.Now)
			continue
		}
		s.users[up.User.ID] = up.Apply(&old, p.Now)
	}
	return nil
}

// Users implements [webhook.UserStore].
func (s *Store) Users(ctx context.Context, q webhook.UserQuery) ([]webhook.User, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if len(q.IDs) > 0 {
		ids := slices.Clone(q.IDs)
		slices.Sort(ids)
		out := make([]webhook.User, 0, len(ids))
		for i, id := range ids {
			if u, ok := s.users[id]; ok && (i == 0 || ids[i-1] != id) {
				out = append(out, u)
			}
		}
		return out, nil
	}
	if s.dirty {
		slices.Sort(s.userIDs)
		s.dirty = false
	}
	i, found := slices.BinarySearch(s.userIDs, q.After)
	if found {
		i++
	}
	ids := s.userIDs[i:]
	if len(ids) > q.Limit {
		ids = ids[:max(q.Limit, 0)]
	}
	out := make([]webhook.User, len(ids))
	for i, id := range ids {
		out[i] = s.users[id]
	}
	return out, nil
}
