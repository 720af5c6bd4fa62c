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
	for _, a := range p.Assignments {
		key := [2]string{a.MessageID, a.UserID}
		if _, ok := s.variants[key]; !ok && a.Variant != "" {
			s.variants[key] = a.Variant
		}
	}
	out := make([]string, len(p.Assignments))
	for i, a := range p.Assignments {
		out[i] = s.variants[[2]string{a.MessageID, a.UserID}]
	}
	return out, nil
}
