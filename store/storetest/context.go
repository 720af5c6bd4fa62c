package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

var contextRules = []rule{
	{"CancelledContextIsReturnedAndChangesNothing", testCancelledContext},
}

func testCancelledContext(t *testing.T, s webhook.Store) {
	enqueue(t, s, 0)
	must(t, "PutMessage", s.PutMessage(t.Context(), message("m1", "e")))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e := event("e1", "u1")
	calls := map[string]error{
		"PutUser":           s.PutUser(ctx, fullUser("u1")),
		"AddEvent":          s.AddEvent(ctx, e, []*webhook.Job{eventJob("j1", "k1", e)}),
		"PutMessage":        s.PutMessage(ctx, message("m1", "")),
		"Enqueue":           s.Enqueue(ctx, []*webhook.Job{job("j2", "k2", at(0))}),
		"Cancel":            func() error { _, err := s.Cancel(ctx, webhook.JobFilter{UserID: "u1"}); return err }(),
		"Claim":             func() error { _, err := s.Claim(ctx, at(0), "w", time.Minute, 10); return err }(),
		"User":              func() error { _, err := s.User(ctx, "u1"); return err }(),
		"Users":             func() error { _, err := s.Users(ctx, "", 10); return err }(),
		"Message":           func() error { _, err := s.Message(ctx, "m1", 0); return err }(),
		"TriggeredMessages": func() error { _, err := s.TriggeredMessages(ctx, "e"); return err }(),
		"NextDue":           func() error { _, _, err := s.NextDue(ctx); return err }(),
		"Job":               func() error { _, err := s.Job(ctx, "j0"); return err }(),
		"Attempts":          func() error { _, err := s.Attempts(ctx, webhook.AttemptFilter{}); return err }(),
		"CountSent":         func() error { _, err := s.CountSent(ctx, "u1", "", at(0)); return err }(),
		"EventStats":        func() error { _, err := s.EventStats(ctx, webhook.EventQuery{UserID: "u1", Name: "e"}); return err }(),
		"PutCampaign":       s.PutCampaign(ctx, campaign("m1", at(0))),
		"Campaign":          func() error { _, err := s.Campaign(ctx, "m1"); return err }(),
		"SetCampaignState":  func() error { _, err := s.SetCampaignState(ctx, "m1", webhook.CampaignPaused); return err }(),
		"LeaseCampaign":     func() error { _, err := s.LeaseCampaign(ctx, at(0), "w", time.Minute); return err }(),
		"Checkpoint":        func() error { _, err := s.Checkpoint(ctx, campaign("m1", at(0))); return err }(),
		"NextCampaignDue":   func() error { _, _, err := s.NextCampaignDue(ctx); return err }(),
		"HoldJobs":          func() error { _, err := s.HoldJobs(ctx, "m1"); return err }(),
		"ReleaseJobs":       func() error { _, err := s.ReleaseJobs(ctx, "m1"); return err }(),
		"EventsByQuarterHour": func() error {
			_, err := s.EventsByQuarterHour(ctx, "u1", at(0), at(time.Hour))
			return err
		}(),
	}
	if p, ok := s.(webhook.AttemptPruner); ok {
		_, calls["DeleteAttempts"] = p.DeleteAttempts(ctx, at(time.Hour))
	}
	for name, err := range calls {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error wrapping context.Canceled", name, err)
		}
	}
	// Nothing changed.
	if _, err := s.User(t.Context(), "u1"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("PutUser with a cancelled context saved the user: User = %v", err)
	}
	for _, id := range []string{"j1", "j2"} {
		if _, err := s.Job(t.Context(), id); !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("a cancelled AddEvent or Enqueue saved job %s: Job = %v", id, err)
		}
	}
	if m, err := s.Message(t.Context(), "m1", 0); err != nil || m.Version != 1 {
		t.Errorf("PutMessage with a cancelled context saved a version: Message = %+v, %v", m, err)
	}
	if _, err := s.Campaign(t.Context(), "m1"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("PutCampaign with a cancelled context saved the campaign: Campaign = %v", err)
	}
	checkJob(t, s, "after a cancelled Claim, Cancel and HoldJobs", job("j0", "k0", at(0)))
}
