package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
)

// TestLeaseCampaignConcurrent checks that Senders leasing campaigns at once through separate
// pools never lease one fan-out twice.
func TestLeaseCampaignConcurrent(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	const n = 60
	s := pgstore.New(newPool(t, schema))
	for i := range n {
		c := &webhook.Campaign{MessageID: fmt.Sprintf("m%02d", i), MessageVersion: 1, Run: 1,
			State: webhook.CampaignRunning, StartedAt: epoch, NextAt: epoch.Add(time.Duration(i%3) * time.Second)}
		if err := s.PutCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got := leaseAll(t, schema, 4, func(s *pgstore.Store, owner string) ([]string, error) {
		res, err := s.LeaseCampaign(ctx, webhook.LeaseCampaignParams{Now: epoch.Add(time.Minute), Owner: owner, Lease: time.Hour})
		if res.Campaign == nil {
			return nil, err
		}
		return []string{res.Campaign.MessageID}, err
	})
	if len(got) != n {
		t.Errorf("leased %d campaigns, want %d", len(got), n)
	}
}

// leaseAll runs lease on leasers Stores on separate pools on schema at once, each with an
// owner of its own, until it returns nothing, fails the test if it returns one ID to two
// owners, and returns the owner of each ID.
func leaseAll(t *testing.T, schema string, leasers int, lease func(s *pgstore.Store, owner string) ([]string, error)) map[string]string {
	t.Helper()
	var mu sync.Mutex
	got := map[string]string{}
	var wg sync.WaitGroup
	for l := range leasers {
		s := pgstore.New(newPool(t, schema))
		owner := fmt.Sprintf("owner%d", l)
		wg.Go(func() {
			for {
				ids, err := lease(s, owner)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					if prev, dup := got[id]; dup {
						t.Errorf("%s leased to %s and %s", id, prev, owner)
					}
					got[id] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

// TestSendersShareCampaign checks that a campaign started by an app that sends nothing itself
// is fanned out and sent by three Senders on separate pools, each user once, woken by
// notifications rather than a poll, across pages of 100, 1000 and 100 users.
func TestSendersShareCampaign(t *testing.T) {
	ctx, schema, recv, clock := sharedQueue(t)
	app := newSender(t, pgstore.New(newPool(t, schema)), clock, "app")
	const users = 1200 // three pages: the fan-out reads 100 users, then 1000 a page
	for i := range users {
		if err := app.Identify(ctx, webhook.User{ID: fmt.Sprintf("u%04d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	m := &webhook.Message{ID: "news", URL: recv.URL + "/{{ user.id }}", Delivery: webhook.Delivery{Kind: webhook.Immediate}}
	if err := app.SaveMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	senders := startSenders(ctx, t, schema, clock, 3)
	if err := app.StartCampaign(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	waitSentOnce(ctx, t, recv, users)
	for _, s := range senders {
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c, err := app.Campaign(ctx, "news")
	if err != nil || !c.NextAt.IsZero() || c.LeaseOwner != "" {
		t.Errorf("campaign after its fan-out = %+v, %v; want it done, with no fan-out to come and no lease", c, err)
	}
}

// TestPausedCampaignAcrossSenders checks that the jobs of a campaign paused by an app
// that sends nothing itself are held from started Senders in other pools, and that once it
// resumes they send those that came due during the pause, each once.
func TestPausedCampaignAcrossSenders(t *testing.T) {
	ctx, schema, recv, clock := sharedQueue(t)
	store := pgstore.New(newPool(t, schema))
	app := newSender(t, store, clock, "app")
	m := &webhook.Message{ID: "sale", URL: recv.URL + "/{{ user.id }}", Delivery: webhook.Delivery{Kind: webhook.Immediate}}
	if err := app.SaveMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	// A campaign whose fan-out enqueued three jobs due in an hour.
	var jobs []*webhook.Job
	for _, u := range []string{"a", "b", "c"} {
		if err := app.Identify(ctx, webhook.User{ID: u}); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, &webhook.Job{ID: "job_" + u, Key: "sale:" + u, MessageID: "sale", MessageVersion: m.Version,
			UserID: u, State: webhook.JobScheduled, CreatedAt: epoch, DueAt: epoch.Add(time.Hour)})
	}
	enqueue(t, store, jobs...)
	c := &webhook.Campaign{MessageID: "sale", MessageVersion: m.Version, Run: 1, State: webhook.CampaignRunning, StartedAt: epoch}
	if err := store.PutCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := app.PauseCampaign(ctx, "sale"); err != nil {
		t.Fatal(err)
	}
	startSenders(ctx, t, schema, clock, 3)
	clock.Advance(2 * time.Hour) // past the due time and every Sender's next poll
	if err := clock.BlockUntil(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if got := job(t, store, j.ID); got.State != webhook.JobHeld {
			t.Fatalf("while paused, job %s = %+v; want it held", j.ID, got)
		}
	}
	if err := app.ResumeCampaign(ctx, "sale"); err != nil {
		t.Fatal(err)
	}
	waitSentOnce(ctx, t, recv, len(jobs))
}

// TestCampaignNotifications checks that saving a campaign with a fan-out to do and moving
// jobs back to scheduled notify listeners in other pools.
func TestCampaignNotifications(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	schema := newSchema(t)
	ch := pgstore.New(newPool(t, schema)).Notifications(ctx)
	s := pgstore.New(newPool(t, schema))
	c := &webhook.Campaign{MessageID: "m", MessageVersion: 1, Run: 1, State: webhook.CampaignRunning, StartedAt: epoch, NextAt: epoch}
	for _, step := range []struct {
		what string
		do   func() error
	}{
		{"listening", func() error { return nil }},
		{"PutCampaign", func() error { return s.PutCampaign(ctx, c) }},
		{"Enqueue", func() error {
			c.State = webhook.CampaignPaused
			if err := s.PutCampaign(ctx, c); err != nil {
				return err
			}
			_, err := s.Enqueue(ctx, webhook.EnqueueParams{Jobs: []*webhook.Job{newJob(1, epoch)}})
			return err
		}},
		{"UpdateJobs to scheduled", func() error {
			p := webhook.UpdateJobsParams{Filter: webhook.JobFilter{MessageID: "m"}, From: []webhook.JobState{webhook.JobScheduled}, To: webhook.JobHeld}
			if got, err := s.UpdateJobs(ctx, p); err != nil || len(got) != 1 {
				return fmt.Errorf("hold = %v, %v; want one job", got, err)
			}
			p.From, p.To = []webhook.JobState{webhook.JobHeld}, webhook.JobScheduled
			if got, err := s.UpdateJobs(ctx, p); err != nil || len(got) != 1 {
				return fmt.Errorf("release = %v, %v; want one job", got, err)
			}
			return nil
		}},
		{"PutCampaign running again", func() error {
			c.State = webhook.CampaignRunning
			return s.PutCampaign(ctx, c)
		}},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("no notification after %s", step.what)
		}
	}
}

func TestPutCampaignIsACompareAndSet(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := &webhook.Campaign{MessageID: "m", MessageVersion: 1, Run: 1, State: webhook.CampaignRunning, StartedAt: epoch}
	if err := s.PutCampaign(ctx, c); err != nil || c.Rev != 1 {
		t.Fatalf("PutCampaign of a new campaign = rev %d, %v; want rev 1", c.Rev, err)
	}
	again := *c
	again.Rev = 0
	if err := s.PutCampaign(ctx, &again); !errors.Is(err, webhook.ErrConflict) {
		t.Errorf("PutCampaign with rev 0 of a stored campaign = %v, want ErrConflict", err)
	}
	other := &webhook.Campaign{MessageID: "other", Rev: 3, State: webhook.CampaignRunning, StartedAt: epoch}
	if err := s.PutCampaign(ctx, other); !errors.Is(err, webhook.ErrConflict) {
		t.Errorf("PutCampaign with rev 3 of a campaign not stored = %v, want ErrConflict", err)
	}
	c.After = "u1"
	if err := s.PutCampaign(ctx, c); err != nil || c.Rev != 2 {
		t.Fatalf("PutCampaign at rev 1 = rev %d, %v; want rev 2", c.Rev, err)
	}
	stale := *c
	stale.Rev = 1
	if err := s.PutCampaign(ctx, &stale); !errors.Is(err, webhook.ErrConflict) {
		t.Errorf("PutCampaign at a stale rev = %v, want ErrConflict", err)
	}
	cs, err := s.Campaigns(ctx, webhook.CampaignQuery{MessageIDs: []string{"other", "m"}})
	if err != nil || len(cs) != 1 || cs[0].Rev != 2 || cs[0].After != "u1" {
		t.Errorf("Campaigns(other, m) = %+v, %v; want m at rev 2, after u1", cs, err)
	}
}

func TestLeaseCampaign(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i, next := range []time.Time{epoch.Add(time.Hour), epoch, epoch} {
		c := &webhook.Campaign{MessageID: fmt.Sprintf("m%d", i), Run: 1, State: webhook.CampaignRunning, StartedAt: epoch, NextAt: next}
		if err := s.PutCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	p := webhook.LeaseCampaignParams{Now: epoch, Owner: "a", Lease: 2 * time.Hour}
	for _, want := range []string{"m1", "m2"} {
		res, err := s.LeaseCampaign(ctx, p)
		if err != nil || res.Campaign == nil || res.Campaign.MessageID != want || res.Campaign.Rev != 2 ||
			res.Campaign.LeaseOwner != "a" || !res.Campaign.LeaseExpiresAt.Equal(epoch.Add(2*time.Hour)) || !res.NextDue.IsZero() {
			t.Fatalf("LeaseCampaign = %+v, %v; want %s leased to a for 2h, at rev 2, and no NextDue", res, err, want)
		}
	}
	res, err := s.LeaseCampaign(ctx, p)
	if err != nil || res.Campaign != nil || !res.NextDue.Equal(epoch.Add(time.Hour)) {
		t.Errorf("LeaseCampaign with none due = %+v, %v; want none, NextDue in an hour (m0's)", res, err)
	}
	p.Now = epoch.Add(time.Hour)
	if res, err := s.LeaseCampaign(ctx, p); err != nil || res.Campaign == nil || res.Campaign.MessageID != "m0" {
		t.Fatalf("LeaseCampaign an hour later = %+v, %v; want m0", res, err)
	}
	if res, err := s.LeaseCampaign(ctx, p); err != nil || res.Campaign != nil || !res.NextDue.Equal(epoch.Add(2*time.Hour)) {
		t.Errorf("LeaseCampaign with all leased = %+v, %v; want none, NextDue when the first leases expire", res, err)
	}
}
