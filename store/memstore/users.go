package memstore

import (
	"context"
	"maps"
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
		u := up.User
		old, ok := s.users[u.ID]
		switch {
		case !ok:
			if n := len(s.userIDs); n > 0 && s.userIDs[n-1] >= u.ID {
				s.dirty = true
			}
			s.userIDs = append(s.userIDs, u.ID)
			if u.CreatedAt.IsZero() {
				u.CreatedAt = p.Now
			}
		case !up.Replace:
			u = merge(old, u, up.Unset)
		case u.CreatedAt.IsZero():
			u.CreatedAt = old.CreatedAt
		}
		s.users[u.ID] = u
	}
	return nil
}

// merge returns old with the fields of u that are not zero, u's attributes, and without the
// attributes named in unset.
func merge(old, u webhook.User, unset []string) webhook.User {
	for _, f := range []struct{ to, from *string }{
		{&old.Email, &u.Email}, {&old.TimeZone, &u.TimeZone}, {&old.Locale, &u.Locale},
		{&old.Country, &u.Country}, {&old.Region, &u.Region}, {&old.City, &u.City},
	} {
		if *f.from != "" {
			*f.to = *f.from
		}
	}
	old.Test = old.Test || u.Test
	if !u.CreatedAt.IsZero() {
		old.CreatedAt = u.CreatedAt
	}
	if !u.LastActive.IsZero() {
		old.LastActive = u.LastActive
	}
	attrs := maps.Clone(old.Attributes)
	if attrs == nil && len(u.Attributes) > 0 {
		attrs = webhook.Map{}
	}
	maps.Copy(attrs, u.Attributes)
	for _, k := range unset {
		delete(attrs, k)
	}
	old.Attributes = attrs
	return old
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
