package pgstore_test

import (
	"context"
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
		c, err := s.LeaseCampaign(ctx, epoch.Add(time.Minute), owner, time.Hour)
		if c == nil {
			return nil, err
		}
		return []string{c.MessageID}, err
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
// notifications rather than a poll, across two pages of users.
func TestSendersShareCampaign(t *testing.T) {
	ctx, schema, recv, clock := sharedQueue(t)
	app := newSender(t, pgstore.New(newPool(t, schema)), clock, "app")
	const users = 1200 // the fan-out reads 1000 users a page
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
		jobs = append(jobs, &webhook.Job{ID: "dlv_" + u, Key: "sale:" + u, MessageID: "sale", MessageVersion: m.Version,
			UserID: u, CreatedAt: epoch, DueAt: epoch.Add(time.Hour)})
	}
	if err := store.Enqueue(ctx, jobs); err != nil {
		t.Fatal(err)
	}
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
		if got, err := store.Job(ctx, j.ID); err != nil || got.State != webhook.JobHeld {
			t.Fatalf("while paused, Job(%s) = %+v, %v; want it held", j.ID, got, err)
		}
	}
	if err := app.ResumeCampaign(ctx, "sale"); err != nil {
		t.Fatal(err)
	}
	waitSentOnce(ctx, t, recv, len(jobs))
}

// TestCampaignNotifications checks that starting a campaign, releasing held jobs and
// resuming a campaign with a fan-out to do notify listeners in other pools.
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
			if _, err := s.SetCampaignState(ctx, "m", webhook.CampaignPaused); err != nil {
				return err
			}
			return s.Enqueue(ctx, []*webhook.Job{newJob(1, epoch)})
		}},
		{"ReleaseJobs", func() error {
			if n, err := s.HoldJobs(ctx, "m"); err != nil || n != 1 {
				return fmt.Errorf("HoldJobs = %d, %v; want 1", n, err)
			}
			if n, err := s.ReleaseJobs(ctx, "m"); err != nil || n != 1 {
				return fmt.Errorf("ReleaseJobs = %d, %v; want 1", n, err)
			}
			return nil
		}},
		{"SetCampaignState running", func() error {
			_, err := s.SetCampaignState(ctx, "m", webhook.CampaignRunning)
			return err
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
