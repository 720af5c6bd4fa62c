package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var campaignRules = []rule{
	{"PutCampaignThenCampaignsReturnsIt", testCampaignRoundTrip},
	{"PutCampaignIsACompareAndSetOnRev", testPutCampaignRev},
	{"CampaignsReturnsThoseNamedInMessageIDOrder", testCampaigns},
	{"LeaseCampaignLeasesTheDueRunningCampaignWithTheEarliestNextAt", testLeaseCampaign},
	{"LeaseCampaignTakesAnExpiredLease", testLeaseCampaignExpired},
	{"LeaseCampaignChangesTheRev", testLeaseCampaignRev},
	{"LeaseCampaignNeverGivesACampaignToTwoOwners", testLeaseCampaignConcurrent},
	{"LeaseCampaignNextDueIsWhenTheNextFanOutIsDue", testLeaseCampaignNextDue},
}

// campaign returns a running campaign of message id whose fan-out is due at next.
func campaign(id string, next time.Time) *webhook.Campaign {
	return &webhook.Campaign{MessageID: id, MessageVersion: 1, Run: 1, State: webhook.CampaignRunning, StartedAt: at(0), NextAt: next}
}

// putCampaigns saves cs, new or as last read.
func putCampaigns(t *testing.T, s webhook.Store, cs ...*webhook.Campaign) {
	t.Helper()
	for _, c := range cs {
		must(t, "PutCampaign", s.PutCampaign(t.Context(), c))
	}
}

// campaigns returns the campaigns of the messages ids.
func campaigns(t *testing.T, s webhook.Store, ids ...string) []*webhook.Campaign {
	t.Helper()
	cs, err := s.Campaigns(t.Context(), webhook.CampaignQuery{MessageIDs: ids})
	must(t, "Campaigns", err)
	return cs
}

// getCampaign returns the campaign of message id, or nil.
func getCampaign(t *testing.T, s webhook.Store, id string) *webhook.Campaign {
	t.Helper()
	cs := campaigns(t, s, id)
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// leaseCampaign leases a campaign at now to owner.
func leaseCampaign(t *testing.T, s webhook.Store, now time.Time, owner string, lease time.Duration) webhook.LeaseCampaignResult {
	t.Helper()
	res, err := s.LeaseCampaign(t.Context(), webhook.LeaseCampaignParams{Now: now, Owner: owner, Lease: lease})
	must(t, "LeaseCampaign", err)
	return res
}

// campaignID returns the MessageID of c, or "<nil>".
func campaignID(c *webhook.Campaign) string {
	if c == nil {
		return "<nil>"
	}
	return c.MessageID
}

func testCampaignRoundTrip(t *testing.T, s webhook.Store) {
	if cs := campaigns(t, s, "m"); len(cs) != 0 {
		t.Errorf("Campaigns of an unknown message = %+v, want none", cs)
	}
	c := campaign("m", at(time.Hour+µs))
	c.Occurrence, c.After, c.LeaseOwner, c.LeaseExpiresAt, c.MessageVersion, c.Run = "2001-02-03", "u1", "w", at(time.Minute), 4, 3
	c.Trace = traceContext()
	putCampaigns(t, s, c)
	if c.Rev <= 0 {
		t.Errorf("PutCampaign of a new campaign set Rev %d, want it greater than 0", c.Rev)
	}
	want := *c
	c.After = "changed after saving" // the Store keeps what was saved, not the pointer
	if diff := cmp.Diff(&want, getCampaign(t, s, "m"), diffOpts...); diff != "" {
		t.Errorf("Campaigns must return the campaign as saved, with the Rev PutCampaign set (-saved +returned):\n%s", diff)
	}
	next := campaign("m", time.Time{})
	next.Run, next.State, next.Rev = 2, webhook.CampaignPaused, want.Rev
	putCampaigns(t, s, next)
	if got := getCampaign(t, s, "m"); cmp.Diff(next, got, diffOpts...) != "" {
		t.Errorf("PutCampaign must replace the campaign whole, lease included: Campaigns = %+v; want %+v", got, next)
	}
}

func testPutCampaignRev(t *testing.T, s webhook.Store) {
	c := campaign("m", at(0))
	c.Rev = 1
	if err := s.PutCampaign(t.Context(), c); !errors.Is(err, webhook.ErrConflict) {
		t.Errorf("PutCampaign of a new campaign with Rev 1 = %v, want ErrConflict: a new campaign has Rev 0", err)
	}
	if got := getCampaign(t, s, "m"); got != nil {
		t.Errorf("a conflicting PutCampaign saved %+v", got)
	}
	c.Rev = 0
	putCampaigns(t, s, c)
	first := *c
	for _, rev := range []int64{0, first.Rev - 1, first.Rev + 1} {
		stale := campaign("m", at(time.Hour))
		stale.Rev = rev
		if err := s.PutCampaign(t.Context(), stale); !errors.Is(err, webhook.ErrConflict) {
			t.Errorf("PutCampaign with Rev %d of a campaign at Rev %d = %v, want ErrConflict", rev, first.Rev, err)
		}
		if stale.Rev != rev {
			t.Errorf("a conflicting PutCampaign changed the Rev given from %d to %d", rev, stale.Rev)
		}
	}
	if diff := cmp.Diff(&first, getCampaign(t, s, "m"), diffOpts...); diff != "" {
		t.Errorf("a conflicting PutCampaign must save nothing (-saved first +returned):\n%s", diff)
	}
	second := first
	second.After = "u9"
	putCampaigns(t, s, &second)
	if second.Rev <= first.Rev {
		t.Errorf("PutCampaign at Rev %d set Rev %d, want a greater one", first.Rev, second.Rev)
	}
	if diff := cmp.Diff(&second, getCampaign(t, s, "m"), diffOpts...); diff != "" {
		t.Errorf("PutCampaign with the current Rev must save the campaign (-saved +returned):\n%s", diff)
	}
	if err := s.PutCampaign(t.Context(), &first); !errors.Is(err, webhook.ErrConflict) {
		t.Errorf("PutCampaign with the Rev before the last change = %v, want ErrConflict", err)
	}
	putCampaigns(t, s, campaign("other", at(0))) // a new campaign of another message
}

func testCampaigns(t *testing.T, s webhook.Store) {
	putCampaigns(t, s, campaign("b", at(0)), campaign("a", at(time.Hour)), campaign("C", time.Time{}))
	for _, tt := range []struct {
		ids  []string
		want []string
	}{
		{[]string{"a"}, []string{"a"}},
		{[]string{"b", "nope", "a", "C"}, []string{"C", "a", "b"}},
		{[]string{"b", "b"}, []string{"b"}},
		{[]string{"nope"}, nil},
		{nil, nil},
	} {
		var got []string
		for _, c := range campaigns(t, s, tt.ids...) {
			got = append(got, c.MessageID)
		}
		if diff := cmp.Diff(tt.want, got, diffOpts...); diff != "" {
			t.Errorf("Campaigns(MessageIDs %v) must return each of those campaigns the Store holds once, in MessageID order (-want +got):\n%s", tt.ids, diff)
		}
	}
}

func testLeaseCampaign(t *testing.T, s webhook.Store) {
	paused, cancelled := campaign("paused", at(-2*time.Hour)), campaign("cancelled", at(-2*time.Hour))
	paused.State, cancelled.State = webhook.CampaignPaused, webhook.CampaignCancelled
	putCampaigns(t, s, campaign("b", at(0)), campaign("a", at(0)), campaign("early", at(-time.Hour)),
		campaign("future", at(µs)), campaign("done", time.Time{}), paused, cancelled)
	var got []string
	for range 4 {
		res := leaseCampaign(t, s, at(0), "w1", time.Minute)
		if c := res.Campaign; c != nil {
			if c.LeaseOwner != "w1" || !c.LeaseExpiresAt.Equal(at(time.Minute)) {
				t.Errorf("LeaseCampaign returned %s leased to %q until %v, want it leased to w1 until now+lease %v", c.MessageID, c.LeaseOwner, c.LeaseExpiresAt, at(time.Minute))
			}
			if diff := cmp.Diff(c, getCampaign(t, s, c.MessageID), diffOpts...); diff != "" {
				t.Errorf("LeaseCampaign must return the campaign as the Store then holds it (-returned +held):\n%s", diff)
			}
		}
		got = append(got, campaignID(res.Campaign))
	}
	if diff := cmp.Diff([]string{"early", "a", "b", "<nil>"}, got); diff != "" {
		t.Errorf("LeaseCampaign must lease the running campaigns whose NextAt came, earliest NextAt first, then by MessageID, and then none (-want +got):\n%s", diff)
	}
	if c := leaseCampaign(t, s, at(30*time.Second), "w2", time.Minute).Campaign; campaignID(c) != "future" {
		t.Errorf("LeaseCampaign while every other due campaign is leased = %s, want future: its NextAt came", campaignID(c))
	}
	if c := leaseCampaign(t, s, at(time.Minute-µs), "w2", time.Minute).Campaign; c != nil {
		t.Errorf("LeaseCampaign while every due campaign is leased to another = %s, want none", campaignID(c))
	}
}

func testLeaseCampaignExpired(t *testing.T, s webhook.Store) {
	// early's fan-out was due first; its lease expires at epoch. late's was due later, and
	// it has no lease: early still comes first once its lease expired.
	early := campaign("early", at(-time.Hour))
	early.LeaseOwner, early.LeaseExpiresAt = "dead", at(0)
	putCampaigns(t, s, early, campaign("late", at(-30*time.Minute)))
	if c := leaseCampaign(t, s, at(-µs), "w", time.Minute).Campaign; campaignID(c) != "late" {
		t.Errorf("LeaseCampaign 1µs before early's lease expires = %s, want late", campaignID(c))
	}
	c := leaseCampaign(t, s, at(0), "w", 2*time.Minute).Campaign
	if campaignID(c) != "early" || c.LeaseOwner != "w" || !c.LeaseExpiresAt.Equal(at(2*time.Minute)) {
		t.Fatalf("LeaseCampaign when early's lease expires = %+v, want early leased to w until epoch+2m", c)
	}
	// The owner of an expired lease may take it again.
	c = leaseCampaign(t, s, at(2*time.Minute), "w", time.Minute).Campaign
	if campaignID(c) != "early" || !c.LeaseExpiresAt.Equal(at(3*time.Minute)) {
		t.Errorf("LeaseCampaign by the same owner when its lease on early expires = %+v, want early leased until epoch+3m", c)
	}
}

func testLeaseCampaignRev(t *testing.T, s webhook.Store) {
	c := campaign("m", at(0))
	putCampaigns(t, s, c)
	before := *c
	leased := leaseCampaign(t, s, at(0), "w", time.Minute).Campaign
	if leased == nil {
		t.Fatalf("LeaseCampaign = none, want m")
	}
	if leased.Rev <= before.Rev {
		t.Errorf("LeaseCampaign returned Rev %d, want one greater than %d: a lease is a change", leased.Rev, before.Rev)
	}
	before.State = webhook.CampaignPaused
	if err := s.PutCampaign(t.Context(), &before); !errors.Is(err, webhook.ErrConflict) {
		t.Errorf("PutCampaign with the Rev from before LeaseCampaign = %v, want ErrConflict", err)
	}
	progress := *leased
	progress.After, progress.LeaseOwner, progress.LeaseExpiresAt = "u100", "", time.Time{}
	must(t, "PutCampaign by the lease holder with the Rev LeaseCampaign returned", s.PutCampaign(t.Context(), &progress))
	if diff := cmp.Diff(&progress, getCampaign(t, s, "m"), diffOpts...); diff != "" {
		t.Errorf("PutCampaign by the lease holder (-saved +returned):\n%s", diff)
	}
}

func testLeaseCampaignConcurrent(t *testing.T, s webhook.Store) {
	const n, owners = 40, 6
	for i := range n {
		putCampaigns(t, s, campaign(fmt.Sprintf("m%02d", i), at(time.Duration(i%7)*time.Millisecond)))
	}
	checkLeasedOnce(t, "LeaseCampaign", "campaign", n, owners, func(owner string) ([]string, error) {
		res, err := s.LeaseCampaign(t.Context(), webhook.LeaseCampaignParams{Now: at(time.Second), Owner: owner, Lease: time.Hour})
		if res.Campaign == nil {
			return nil, err
		}
		return []string{res.Campaign.MessageID}, err
	})
}

func testLeaseCampaignNextDue(t *testing.T, s webhook.Store) {
	check := func(when string, now time.Time, want time.Time) {
		t.Helper()
		res := leaseCampaign(t, s, now, "w", time.Minute)
		if res.Campaign != nil || !res.NextDue.Equal(want) {
			t.Errorf("%s: LeaseCampaign at %v = %s, NextDue %v; want none, and NextDue %v", when, now, campaignID(res.Campaign), res.NextDue, want)
		}
	}
	check("without campaigns", at(0), time.Time{})
	paused := campaign("paused", at(-time.Hour))
	paused.State = webhook.CampaignPaused
	putCampaigns(t, s, campaign("done", time.Time{}), paused)
	check("with only a paused campaign and one with no fan-out left", at(0), time.Time{})
	leased := campaign("leased", at(-time.Hour))
	leased.LeaseOwner, leased.LeaseExpiresAt = "other", at(3*time.Hour)
	putCampaigns(t, s, campaign("b", at(2*time.Hour)), leased)
	check("with b due at 2h and a campaign leased until 3h", at(0), at(2*time.Hour))
	putCampaigns(t, s, campaign("a", at(time.Hour)))
	check("with a due at 1h", at(0), at(time.Hour))
	future := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	if c := leaseCampaign(t, s, at(time.Hour), "w", future.Sub(at(time.Hour))).Campaign; campaignID(c) != "a" {
		t.Fatalf("LeaseCampaign at 1h = %s, want a", campaignID(c))
	}
	if c := leaseCampaign(t, s, at(2*time.Hour), "w", future.Sub(at(2*time.Hour))).Campaign; campaignID(c) != "b" {
		t.Fatalf("LeaseCampaign at 2h = %s, want b", campaignID(c))
	}
	check("with a and b leased until 2200, a campaign's lease expiring at 3h", at(2*time.Hour), at(3*time.Hour))
}
