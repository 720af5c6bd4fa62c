package memstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

func TestCampaignStore(t *testing.T) {
	testCampaignStore(t, func() webhook.Store { return New() })
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// testCampaignStore checks a Store against the contract of [webhook.CampaignStore].
func testCampaignStore(t *testing.T, newStore func() webhook.Store) {
	ctx := context.Background()
	running := func(id string, next time.Time) *webhook.Campaign {
		return &webhook.Campaign{MessageID: id, MessageVersion: 1, Run: 1, State: webhook.CampaignRunning, StartedAt: t0, NextAt: next}
	}
	t.Run("Campaign returns what PutCampaign saved, or ErrNotFound", func(t *testing.T) {
		s := newStore()
		if _, err := s.Campaign(ctx, "m"); !errors.Is(err, webhook.ErrNotFound) {
			t.Fatalf("Campaign(missing) = %v, want ErrNotFound", err)
		}
		c := running("m", t0)
		c.Occurrence, c.After = "2026-11-23", "u1"
		if err := s.PutCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.After = "changed after saving"
		got, err := s.Campaign(ctx, "m")
		if err != nil || got.After != "u1" || got.Occurrence != "2026-11-23" || !got.NextAt.Equal(t0) || got.State != webhook.CampaignRunning {
			t.Errorf("Campaign = %+v, %v; want the campaign as saved", got, err)
		}
	})
	t.Run("SetCampaignState changes any state but cancelled", func(t *testing.T) {
		s := newStore()
		if _, err := s.SetCampaignState(ctx, "m", webhook.CampaignPaused); !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("SetCampaignState(missing) = %v, want ErrNotFound", err)
		}
		if err := s.PutCampaign(ctx, running("m", t0)); err != nil {
			t.Fatal(err)
		}
		for _, st := range []webhook.CampaignState{webhook.CampaignPaused, webhook.CampaignRunning, webhook.CampaignCancelled} {
			if c, err := s.SetCampaignState(ctx, "m", st); err != nil || c.State != st {
				t.Errorf("SetCampaignState(%s) = %+v, %v", st, c, err)
			}
		}
		if c, err := s.SetCampaignState(ctx, "m", webhook.CampaignRunning); err != nil || c.State != webhook.CampaignCancelled {
			t.Errorf("SetCampaignState(cancelled → running) = %+v, %v; want it still cancelled", c, err)
		}
	})
	t.Run("LeaseCampaign leases the earliest due running campaign to one owner at a time", func(t *testing.T) {
		s := newStore()
		for _, c := range []*webhook.Campaign{
			running("b", t0), running("a", t0), running("early", t0.Add(-time.Hour)),
			running("future", t0.Add(time.Minute)), running("done", time.Time{}),
		} {
			if err := s.PutCampaign(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutCampaign(ctx, &webhook.Campaign{MessageID: "paused", State: webhook.CampaignPaused, NextAt: t0.Add(-2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for range 4 {
			c, err := s.LeaseCampaign(ctx, t0, "w1", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if c == nil {
				got = append(got, "<nil>")
				continue
			}
			if c.LeaseOwner != "w1" || !c.LeaseExpiresAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("leased %+v, want leased to w1 until t0+1m", c)
			}
			got = append(got, c.MessageID)
		}
		if want := []string{"early", "a", "b", "<nil>"}; !slices.Equal(got, want) {
			t.Errorf("leased %v, want %v", got, want)
		}
		if c, err := s.LeaseCampaign(ctx, t0.Add(30*time.Second), "w2", time.Minute); err != nil || c != nil {
			t.Errorf("LeaseCampaign during others' leases = %+v, %v; want none", c, err)
		}
		c, err := s.LeaseCampaign(ctx, t0.Add(time.Minute), "w2", time.Minute)
		if err != nil || c == nil || c.MessageID != "early" || c.LeaseOwner != "w2" {
			t.Errorf("LeaseCampaign after the leases expired = %+v, %v; want early leased to w2", c, err)
		}
	})
	t.Run("Checkpoint saves progress for the lease holder only and releases the lease", func(t *testing.T) {
		s := newStore()
		if _, err := s.Checkpoint(ctx, running("missing", t0)); !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("Checkpoint(missing) = %v, want ErrNotFound", err)
		}
		if err := s.PutCampaign(ctx, running("m", t0)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Checkpoint(ctx, running("m", t0)); !errors.Is(err, webhook.ErrLeaseLost) {
			t.Errorf("Checkpoint without a lease = %v, want ErrLeaseLost", err)
		}
		c, err := s.LeaseCampaign(ctx, t0, "w1", time.Minute)
		if err != nil || c == nil {
			t.Fatalf("LeaseCampaign = %+v, %v", c, err)
		}
		if _, err := s.SetCampaignState(ctx, "m", webhook.CampaignPaused); err != nil {
			t.Fatal(err)
		}
		stale := *c
		stale.LeaseOwner = "w2"
		if _, err := s.Checkpoint(ctx, &stale); !errors.Is(err, webhook.ErrLeaseLost) {
			t.Errorf("Checkpoint by another owner = %v, want ErrLeaseLost", err)
		}
		c.After, c.Occurrence, c.NextAt, c.State = "u1000", "2026-11-24", t0.Add(time.Hour), webhook.CampaignRunning
		saved, err := s.Checkpoint(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if saved.After != "u1000" || saved.Occurrence != "2026-11-24" || !saved.NextAt.Equal(t0.Add(time.Hour)) ||
			saved.State != webhook.CampaignPaused || saved.LeaseOwner != "" || !saved.LeaseExpiresAt.IsZero() {
			t.Errorf("Checkpoint = %+v; want the progress saved, the state kept paused and the lease released", saved)
		}
	})
	t.Run("NextCampaignDue is the earliest NextAt of running campaigns, or lease expiry", func(t *testing.T) {
		s := newStore()
		if _, ok, err := s.NextCampaignDue(ctx); ok || err != nil {
			t.Errorf("NextCampaignDue(empty) = %v, %v; want false", ok, err)
		}
		for _, c := range []*webhook.Campaign{running("a", t0.Add(time.Hour)), running("b", t0), running("done", time.Time{})} {
			if err := s.PutCampaign(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutCampaign(ctx, &webhook.Campaign{MessageID: "paused", State: webhook.CampaignPaused, NextAt: t0.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if next, ok, err := s.NextCampaignDue(ctx); !ok || err != nil || !next.Equal(t0) {
			t.Errorf("NextCampaignDue = %v, %v, %v; want t0", next, ok, err)
		}
		if _, err := s.LeaseCampaign(ctx, t0, "w1", 2*time.Hour); err != nil {
			t.Fatal(err)
		}
		if next, ok, err := s.NextCampaignDue(ctx); !ok || err != nil || !next.Equal(t0.Add(time.Hour)) {
			t.Errorf("NextCampaignDue with b leased for 2h = %v, %v, %v; want a's t0+1h", next, ok, err)
		}
	})
	t.Run("HoldJobs takes jobs off the queue until ReleaseJobs, and Cancel cancels them", func(t *testing.T) {
		s := newStore()
		jobs := []*webhook.Job{
			{ID: "j1", Key: "k1", MessageID: "m", UserID: "u1", DueAt: t0},
			{ID: "j2", Key: "k2", MessageID: "m", UserID: "u2", DueAt: t0.Add(time.Hour)},
			{ID: "j3", Key: "k3", MessageID: "other", UserID: "u1", DueAt: t0.Add(2 * time.Hour)},
		}
		if err := s.Enqueue(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		if n, err := s.HoldJobs(ctx, "m"); n != 2 || err != nil {
			t.Errorf("HoldJobs = %d, %v; want 2", n, err)
		}
		if j, err := s.Job(ctx, "j1"); err != nil || j.State != webhook.JobHeld || !j.DueAt.Equal(t0) {
			t.Errorf("held job = %+v, %v; want held, due at t0", j, err)
		}
		if claimed, err := s.Claim(ctx, t0.Add(3*time.Hour), "w", time.Minute, 10); err != nil || len(claimed) != 1 || claimed[0].ID != "j3" {
			t.Errorf("Claim with m held = %v, %v; want only j3", claimed, err)
		}
		if next, ok, err := s.NextDue(ctx); err != nil || !ok || !next.Equal(t0.Add(3*time.Hour+time.Minute)) {
			t.Errorf("NextDue with m held = %v, %v, %v; want j3's lease expiry", next, ok, err)
		}
		if n, err := s.ReleaseJobs(ctx, "m"); n != 2 || err != nil {
			t.Errorf("ReleaseJobs = %d, %v; want 2", n, err)
		}
		if next, ok, err := s.NextDue(ctx); err != nil || !ok || !next.Equal(t0) {
			t.Errorf("NextDue after release = %v, %v, %v; want t0", next, ok, err)
		}
		if n, err := s.HoldJobs(ctx, "m"); n != 2 || err != nil {
			t.Fatalf("HoldJobs = %d, %v; want 2", n, err)
		}
		cancelled, err := s.Cancel(ctx, webhook.JobFilter{MessageID: "m"})
		if err != nil || len(cancelled) != 2 || cancelled[0].State != webhook.JobCancelled {
			t.Errorf("Cancel of held jobs = %v, %v; want both cancelled", cancelled, err)
		}
		if n, err := s.ReleaseJobs(ctx, "m"); n != 0 || err != nil {
			t.Errorf("ReleaseJobs after Cancel = %d, %v; want 0", n, err)
		}
	})
	t.Run("EventsByQuarterHour counts a user's events in the window by UTC quarter hour", func(t *testing.T) {
		s := newStore()
		kathmandu := time.FixedZone("+0545", 5*3600+45*60)
		for _, e := range []webhook.Event{
			{ID: "1", UserID: "u", Name: "open", Time: t0.Add(-time.Hour)},                              // 08:00 → 32
			{ID: "2", UserID: "u", Name: "buy", Time: t0.Add(-time.Hour + 14*time.Minute)},              // 08:14 → 32
			{ID: "3", UserID: "u", Name: "open", Time: t0.Add(-24*time.Hour + 15*time.Minute)},          // 09:15 → 37
			{ID: "4", UserID: "u", Name: "open", Time: time.Date(2026, 11, 22, 5, 45, 0, 0, kathmandu)}, // 00:00 → 0
			{ID: "5", UserID: "u", Name: "open", Time: t0},                                              // at until: not counted
			{ID: "6", UserID: "u", Name: "open", Time: t0.Add(-72 * time.Hour)},                         // before since
			{ID: "7", UserID: "other", Name: "open", Time: t0.Add(-time.Hour)},
		} {
			if err := s.AddEvent(ctx, e, nil); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.EventsByQuarterHour(ctx, "u", t0.Add(-48*time.Hour), t0)
		if err != nil {
			t.Fatal(err)
		}
		var want [96]int
		want[32], want[37], want[0] = 2, 1, 1
		if got != want {
			t.Errorf("EventsByQuarterHour = %v, want %v", got, want)
		}
	})
}
