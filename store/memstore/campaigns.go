package memstore

import (
	"context"
	"slices"

	"github.com/hookline/webhook"
)

// PutCampaign implements [webhook.CampaignStore].
func (s *Store) PutCampaign(ctx context.Context, c *webhook.Campaign) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	rev := int64(0)
	if old := s.campaign[c.MessageID]; old != nil {
		rev = old.Rev
	}
	if c.Rev != rev {
		return webhook.ErrConflict
	}
	cc := *c
	cc.Rev = rev + 1
	s.campaign[c.MessageID] = &cc
	c.Rev = cc.Rev
	return nil
}

// Campaigns implements [webhook.CampaignStore].
func (s *Store) Campaigns(ctx context.Context, q webhook.CampaignQuery) ([]*webhook.Campaign, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ids := slices.Clone(q.MessageIDs)
	slices.Sort(ids)
	var out []*webhook.Campaign
	for i, id := range ids {
		if c := s.campaign[id]; c != nil && (i == 0 || ids[i-1] != id) {
			cc := *c
			out = append(out, &cc)
		}
	}
	return out, nil
}

// LeaseCampaign implements [webhook.CampaignStore].
func (s *Store) LeaseCampaign(ctx context.Context, p webhook.LeaseCampaignParams) (webhook.LeaseCampaignResult, error) {
	var res webhook.LeaseCampaignResult
	if err := s.lock(ctx); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	var best *webhook.Campaign
	for _, c := range s.campaign {
		if c.State != webhook.CampaignRunning || c.NextAt.IsZero() {
			continue
		}
		at := c.NextAt
		if c.LeaseOwner != "" && c.LeaseExpiresAt.After(at) {
			at = c.LeaseExpiresAt
		}
		if at.After(p.Now) {
			if res.NextDue.IsZero() || at.Before(res.NextDue) {
				res.NextDue = at
			}
			continue
		}
		if best == nil || c.NextAt.Before(best.NextAt) || c.NextAt.Equal(best.NextAt) && c.MessageID < best.MessageID {
			best = c
		}
	}
	if best == nil {
		return res, nil
	}
	best.LeaseOwner, best.LeaseExpiresAt = p.Owner, p.Now.Add(p.Lease)
	best.Rev++
	cc := *best
	return webhook.LeaseCampaignResult{Campaign: &cc}, nil
}
