package memstore

import (
	"context"
	"time"

	"github.com/hookline/webhook"
)

// PutCampaign implements [webhook.CampaignStore].
func (s *Store) PutCampaign(ctx context.Context, c *webhook.Campaign) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cc := *c
	s.campaign[c.MessageID] = &cc
	return nil
}

// Campaign implements [webhook.CampaignStore].
func (s *Store) Campaign(ctx context.Context, messageID string) (*webhook.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.campaign[messageID]
	if c == nil {
		return nil, webhook.ErrNotFound
	}
	cc := *c
	return &cc, nil
}

// SetCampaignState implements [webhook.CampaignStore].
func (s *Store) SetCampaignState(ctx context.Context, messageID string, state webhook.CampaignState) (*webhook.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.campaign[messageID]
	if c == nil {
		return nil, webhook.ErrNotFound
	}
	if c.State != webhook.CampaignCancelled {
		c.State = state
	}
	cc := *c
	return &cc, nil
}

// LeaseCampaign implements [webhook.CampaignStore].
func (s *Store) LeaseCampaign(ctx context.Context, now time.Time, owner string, lease time.Duration) (*webhook.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *webhook.Campaign
	for _, c := range s.campaign {
		if c.State != webhook.CampaignRunning || c.NextAt.IsZero() || c.NextAt.After(now) ||
			c.LeaseOwner != "" && c.LeaseExpiresAt.After(now) {
			continue
		}
		if best == nil || c.NextAt.Before(best.NextAt) || c.NextAt.Equal(best.NextAt) && c.MessageID < best.MessageID {
			best = c
		}
	}
	if best == nil {
		return nil, nil
	}
	best.LeaseOwner, best.LeaseExpiresAt = owner, now.Add(lease)
	cc := *best
	return &cc, nil
}

// Checkpoint implements [webhook.CampaignStore].
func (s *Store) Checkpoint(ctx context.Context, c *webhook.Campaign) (*webhook.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.campaign[c.MessageID]
	if old == nil {
		return nil, webhook.ErrNotFound
	}
	if old.LeaseOwner == "" || old.LeaseOwner != c.LeaseOwner {
		return nil, webhook.ErrLeaseLost
	}
	old.MessageVersion, old.Occurrence, old.After, old.NextAt = c.MessageVersion, c.Occurrence, c.After, c.NextAt
	old.LeaseOwner, old.LeaseExpiresAt = "", time.Time{}
	cc := *old
	return &cc, nil
}

// NextCampaignDue implements [webhook.CampaignStore].
func (s *Store) NextCampaignDue(ctx context.Context) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, c := range s.campaign {
		if c.State != webhook.CampaignRunning || c.NextAt.IsZero() {
			continue
		}
		at := c.NextAt
		if c.LeaseOwner != "" && c.LeaseExpiresAt.After(at) {
			at = c.LeaseExpiresAt
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero(), nil
}

// HoldJobs implements [webhook.CampaignStore].
func (s *Store) HoldJobs(ctx context.Context, messageID string) (int, error) {
	return s.moveJobs(ctx, messageID, webhook.JobScheduled, webhook.JobHeld)
}

// ReleaseJobs implements [webhook.CampaignStore].
func (s *Store) ReleaseJobs(ctx context.Context, messageID string) (int, error) {
	return s.moveJobs(ctx, messageID, webhook.JobHeld, webhook.JobScheduled)
}

// moveJobs moves the jobs of a message from one state to another, queueing them if the
// new state is scheduled and taking them off the queue otherwise.
func (s *Store) moveJobs(ctx context.Context, messageID string, from, to webhook.JobState) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.jobs {
		if r.job.MessageID != messageID || r.job.State != from {
			continue
		}
		r.job.State = to
		if to == webhook.JobScheduled {
			s.schedule(r, r.job.DueAt)
		} else {
			r.gen++ // no longer queued
		}
		n++
	}
	return n, nil
}

// EventsByQuarterHour implements [webhook.CampaignStore].
func (s *Store) EventsByQuarterHour(ctx context.Context, userID string, since, until time.Time) ([96]int, error) {
	var out [96]int
	if err := ctx.Err(); err != nil {
		return out, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events[userID] {
		if e.Time.Before(since) || !e.Time.Before(until) {
			continue
		}
		t := e.Time.UTC()
		out[(t.Hour()*60+t.Minute())/15]++
	}
	return out, nil
}
