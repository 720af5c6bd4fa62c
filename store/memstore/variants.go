package memstore

import (
	"context"

	"github.com/hookline/webhook"
)

// AssignVariants implements [webhook.VariantStore].
func (s *Store) AssignVariants(ctx context.Context, p webhook.AssignVariantsParams) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]string, len(p.Assignments))
	for i, a := range p.Assignments {
		key := [2]string{a.MessageID, a.UserID}
		held, ok := s.variants[key]
		if !ok && a.Variant != "" {
			held = a.Variant
			s.variants[key] = held
		}
		out[i] = held
	}
	return out, nil
}
