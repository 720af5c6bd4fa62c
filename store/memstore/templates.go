package memstore

import (
	"cmp"
	"context"
	"slices"

	"github.com/hookline/webhook"
)

// PutTemplate implements [webhook.TemplateStore].
func (s *Store) PutTemplate(ctx context.Context, t *webhook.Template) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	key := templateKey{t.Kind, t.Name}
	c := *t
	c.Version = len(s.library[key]) + 1
	s.library[key] = append(s.library[key], &c)
	t.Version = c.Version
	return nil
}

// Templates implements [webhook.TemplateStore].
func (s *Store) Templates(ctx context.Context, q webhook.TemplateQuery) ([]*webhook.Template, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*webhook.Template
	if len(q.Refs) > 0 {
		for _, ref := range q.Refs {
			versions := s.library[templateKey{q.Kind, ref.Name}]
			v := ref.Version
			if v == 0 {
				v = len(versions)
			}
			if v >= 1 && v <= len(versions) {
				out = append(out, versions[v-1])
			}
		}
	} else {
		for key, versions := range s.library {
			if key.kind == q.Kind && key.name > q.After {
				out = append(out, versions[len(versions)-1])
			}
		}
	}
	slices.SortFunc(out, func(a, b *webhook.Template) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	out = slices.CompactFunc(out, func(a, b *webhook.Template) bool { return a == b })
	if len(q.Refs) == 0 && len(out) > q.Limit {
		out = out[:max(q.Limit, 0)]
	}
	for i, t := range out {
		c := *t
		out[i] = &c
	}
	return out, nil
}
