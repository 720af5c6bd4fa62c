package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var campaignRules = []rule{
	{"CampaignReturnsWhatPutCampaignSavedOrErrNotFound", testCampaignRoundTrip},
	{"SetCampaignStateChangesAnyStateButCancelled", testSetCampaignState},
	{"LeaseCampaignLeasesTheEarliestDueRunningCampaignToOneOwner", testLeaseCampaign},
	{"LeaseCampaignNeverGivesACampaignToTwoOwners", testLeaseCampaignConcurrent},
	{"CheckpointSavesProgressForTheLeaseHolderOnlyAndReleases", testCheckpoint},
	{"NextCampaignDueIsTheEarliestNextAtOrLeaseExpiry", testNextCampaignDue},
	{"HeldJobsAreNotClaimedOrDueUntilReleasedAndCancelCancelsThem", testHoldJobs},
	{"EventsByQuarterHourCountsTheWindowByUTCQuarterHour", testEventsByQuarterHour},
}

// campaign returns a running campaign of message id whose fan-out is due at next.
func campaign(id string, next time.Time) *webhook.Campaign {
	return &webhook.Campaign{MessageID: id, MessageVersion: 1, Run: 1, State: webhook.CampaignRunning, StartedAt: at(0), NextAt: next}
}

// putCampaigns saves cs.
func putCampaigns(t *testing.T, s webhook.Store, cs ...*webhook.Campaign) {
	t.Helper()
	for _, c := range cs {
		must(t, "PutCampaign", s.PutCampaign(t.Context(), c))
	}
}

func testCampaignRoundTrip(t *testing.T, s webhook.Store) {
	if _, err := s.Campaign(t.Context(), "m"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Campaign of an unknown message = %v, want an error wrapping ErrNotFound", err)
	}
	c := campaign("m", at(time.Hour))
	c.Occurrence, c.After, c.LeaseOwner, c.LeaseExpiresAt = "2001-02-03", "u1", "w", at(time.Minute)
	putCampaigns(t, s, c)
	want := *c
	c.After = "changed after saving" // the Store keeps what was saved, not the pointer
	got, err := s.Campaign(t.Context(), "m")
	must(t, "Campaign", err)
	if diff := cmp.Diff(&want, got, diffOpts...); diff != "" {
		t.Errorf("Campaign must return the campaign as saved (-saved +returned):\n%s", diff)
	}
	next := campaign("m", time.Time{})
	next.Run, next.State = 2, webhook.CampaignPaused
	putCampaigns(t, s, next)
	if got, err := s.Campaign(t.Context(), "m"); err != nil || cmp.Diff(next, got, diffOpts...) != "" {
		t.Errorf("PutCampaign must replace the campaign, lease included: Campaign = %+v, %v; want %+v", got, err, next)
	}
}

func testSetCampaignState(t *testing.T, s webhook.Store) {
	if _, err := s.SetCampaignState(t.Context(), "m", webhook.CampaignPaused); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("SetCampaignState of an unknown campaign = %v, want an error wrapping ErrNotFound", err)
	}
	putCampaigns(t, s, campaign("m", at(0)))
	for _, st := range []webhook.CampaignState{webhook.CampaignPaused, webhook.CampaignRunning, webhook.CampaignCancelled} {
		if c, err := s.SetCampaignState(t.Context(), "m", st); err != nil || c.State != st {
			t.Errorf("SetCampaignState(%s) = %+v, %v; want the campaign in state %s", st, c, err, st)
		}
	}
	if c, err := s.SetCampaignState(t.Context(), "m", webhook.CampaignRunning); err != nil || c.State != webhook.CampaignCancelled {
		t.Errorf("SetCampaignState(running) of a cancelled campaign = %+v, %v; want it returned still cancelled", c, err)
	}
	if c, err := s.Campaign(t.Context(), "m"); err != nil || c.State != webhook.CampaignCancelled {
		t.Errorf("after SetCampaignState(running) of a cancelled campaign, Campaign = %+v, %v; want it still cancelled", c, err)
	}
}

func testLeaseCampaign(t *testing.T, s webhook.Store) {
	paused := campaign("paused", at(-2*time.Hour))
	paused.State = webhook.CampaignPaused
	putCampaigns(t, s, campaign("b", at(0)), campaign("a", at(0)), campaign("early", at(-time.Hour)),
		campaign("future", at(time.Minute)), campaign("done", time.Time{}), paused)
	var got []string
	for range 4 {
		c, err := s.LeaseCampaign(t.Context(), at(0), "w1", time.Minute)
		must(t, "LeaseCampaign", err)
		if c == nil {
			got = append(got, "<nil>")
			continue
		}
		if c.LeaseOwner != "w1" || !c.LeaseExpiresAt.Equal(at(time.Minute)) {
			t.Errorf("LeaseCampaign returned %+v, want it leased to w1 until now+lease", c)
		}
		got = append(got, c.MessageID)
	}
	if diff := cmp.Diff([]string{"early", "a", "b", "<nil>"}, got); diff != "" {
		t.Errorf("LeaseCampaign must lease the due running campaigns, earliest NextAt first, then by MessageID, and then none (-want +got):\n%s", diff)
	}
	if c, err := s.LeaseCampaign(t.Context(), at(30*time.Second), "w2", time.Minute); err != nil || c != nil {
		t.Errorf("LeaseCampaign while every due campaign is leased to another = %+v, %v; want nil", c, err)
	}
	c, err := s.LeaseCampaign(t.Context(), at(time.Minute), "w2", time.Minute)
	if err != nil || c == nil || c.MessageID != "early" || c.LeaseOwner != "w2" {
		t.Errorf("LeaseCampaign when the leases expire = %+v, %v; want early leased to w2", c, err)
	}
}

func testLeaseCampaignConcurrent(t *testing.T, s webhook.Store) {
	const campaigns, owners = 40, 6
	for i := range campaigns {
		putCampaigns(t, s, campaign(fmt.Sprintf("m%02d", i), at(time.Duration(i%7)*time.Millisecond)))
	}
	checkLeasedOnce(t, "LeaseCampaign", "campaign", campaigns, owners, func(owner string) ([]string, error) {
		c, err := s.LeaseCampaign(t.Context(), at(time.Second), owner, time.Hour)
		if c == nil {
			return nil, err
		}
		return []string{c.MessageID}, err
	})
}

func testCheckpoint(t *testing.T, s webhook.Store) {
	if _, err := s.Checkpoint(t.Context(), campaign("missing", at(0))); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Checkpoint of an unknown campaign = %v, want an error wrapping ErrNotFound", err)
	}
	putCampaigns(t, s, campaign("m", at(0)))
	if _, err := s.Checkpoint(t.Context(), campaign("m", at(0))); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("Checkpoint of a campaign leased to no one = %v, want ErrLeaseLost", err)
	}
	c, err := s.LeaseCampaign(t.Context(), at(0), "w1", time.Minute)
	if err != nil || c == nil {
		t.Fatalf("LeaseCampaign = %+v, %v; want m", c, err)
	}
	_, err = s.SetCampaignState(t.Context(), "m", webhook.CampaignPaused)
	must(t, "SetCampaignState", err)
	stale := *c
	stale.LeaseOwner, stale.After = "w2", "stale"
	if _, err := s.Checkpoint(t.Context(), &stale); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("Checkpoint by another owner = %v, want ErrLeaseLost", err)
	}
	if got, err := s.Campaign(t.Context(), "m"); err != nil || got.After != "" || got.LeaseOwner != "w1" {
		t.Errorf("a refused Checkpoint must save nothing: Campaign = %+v, %v", got, err)
	}
	c.MessageVersion, c.After, c.Occurrence, c.NextAt, c.State = 2, "u1000", "2001-02-04", at(time.Hour), webhook.CampaignRunning
	// The lease has expired, but no one took it: Checkpoint still saves.
	saved, err := s.Checkpoint(t.Context(), c)
	must(t, "Checkpoint by the lease holder after the lease expired", err)
	want := *c
	want.State, want.LeaseOwner, want.LeaseExpiresAt = webhook.CampaignPaused, "", time.Time{}
	if diff := cmp.Diff(&want, saved, diffOpts...); diff != "" {
		t.Errorf("Checkpoint must save the progress, keep the state and release the lease (-want +returned):\n%s", diff)
	}
	if got, err := s.Campaign(t.Context(), "m"); err != nil || cmp.Diff(&want, got, diffOpts...) != "" {
		t.Errorf("after Checkpoint, Campaign = %+v, %v; want %+v", got, err, &want)
	}
	if _, err := s.Checkpoint(t.Context(), c); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("second Checkpoint of one lease = %v, want ErrLeaseLost: the lease was released", err)
	}
}

func testNextCampaignDue(t *testing.T, s webhook.Store) {
	if _, ok, err := s.NextCampaignDue(t.Context()); ok || err != nil {
		t.Errorf("NextCampaignDue without campaigns = %v, %v; want false", ok, err)
	}
	paused := campaign("paused", at(-time.Hour))
	paused.State = webhook.CampaignPaused
	putCampaigns(t, s, campaign("a", at(time.Hour)), campaign("b", at(0)), campaign("done", time.Time{}), paused)
	if next, ok, err := s.NextCampaignDue(t.Context()); !ok || err != nil || !next.Equal(at(0)) {
		t.Errorf("NextCampaignDue = %v, %v, %v; want b's NextAt %v (paused and finished campaigns are not due)", next, ok, err, at(0))
	}
	_, err := s.LeaseCampaign(t.Context(), at(0), "w1", 2*time.Hour)
	must(t, "LeaseCampaign", err)
	if next, ok, err := s.NextCampaignDue(t.Context()); !ok || err != nil || !next.Equal(at(time.Hour)) {
		t.Errorf("NextCampaignDue with b leased for 2h = %v, %v, %v; want a's NextAt %v", next, ok, err, at(time.Hour))
	}
}

func testHoldJobs(t *testing.T, s webhook.Store) {
	jobs := []*webhook.Job{job("j1", "k1", at(0)), job("j2", "k2", at(time.Hour)), job("j3", "k3", at(2*time.Hour))}
	jobs[2].MessageID = "other"
	must(t, "Enqueue", s.Enqueue(t.Context(), jobs))
	if n, err := s.HoldJobs(t.Context(), "m1"); n != 2 || err != nil {
		t.Errorf("HoldJobs(m1) = %d, %v; want 2: every scheduled job of the message", n, err)
	}
	held := *jobs[0]
	held.State = webhook.JobHeld
	checkJob(t, s, "a held job keeps its DueAt", &held)
	if got := ids(claim(t, s, at(3*time.Hour), "w", 10)); !slices.Equal(got, []string{"j3"}) {
		t.Errorf("Claim with m1 held = %v, want only j3: held jobs are not claimed", got)
	}
	if next, ok, err := s.NextDue(t.Context()); err != nil || !ok || !next.Equal(at(3*time.Hour+time.Minute)) {
		t.Errorf("NextDue with m1 held = %v, %v, %v; want j3's lease expiry: held jobs are not due", next, ok, err)
	}
	if n, err := s.ReleaseJobs(t.Context(), "m1"); n != 2 || err != nil {
		t.Errorf("ReleaseJobs(m1) = %d, %v; want 2", n, err)
	}
	checkJob(t, s, "a released job is scheduled with the DueAt it had", jobs[0])
	if next, ok, err := s.NextDue(t.Context()); err != nil || !ok || !next.Equal(at(0)) {
		t.Errorf("NextDue after ReleaseJobs = %v, %v, %v; want j1's DueAt", next, ok, err)
	}
	if n, err := s.HoldJobs(t.Context(), "m1"); n != 2 || err != nil {
		t.Fatalf("HoldJobs(m1) again = %d, %v; want 2", n, err)
	}
	cancelled, err := s.Cancel(t.Context(), webhook.JobFilter{MessageID: "m1"})
	must(t, "Cancel", err)
	if len(cancelled) != 2 || cancelled[0].State != webhook.JobCancelled || cancelled[1].State != webhook.JobCancelled {
		t.Errorf("Cancel of held jobs = %+v; want both cancelled", cancelled)
	}
	if n, err := s.ReleaseJobs(t.Context(), "m1"); n != 0 || err != nil {
		t.Errorf("ReleaseJobs after Cancel = %d, %v; want 0: cancelled jobs stay cancelled", n, err)
	}
}

func testEventsByQuarterHour(t *testing.T, s webhook.Store) {
	nine := time.Date(2001, 2, 3, 9, 0, 0, 0, time.UTC)
	kathmandu := time.FixedZone("+0545", 5*3600+45*60)
	for _, e := range []webhook.Event{
		{ID: "1", UserID: "u", Name: "open", Time: nine.Add(-time.Hour)},                          // 08:00 → 32
		{ID: "2", UserID: "u", Name: "buy", Time: nine.Add(-time.Hour + 14*time.Minute)},          // 08:14 → 32
		{ID: "3", UserID: "u", Name: "open", Time: nine.Add(-24*time.Hour + 15*time.Minute)},      // 09:15 → 37
		{ID: "4", UserID: "u", Name: "open", Time: time.Date(2001, 2, 2, 5, 45, 0, 0, kathmandu)}, // 00:00 UTC → 0
		{ID: "5", UserID: "u", Name: "open", Time: nine},                                          // at until: not counted
		{ID: "6", UserID: "u", Name: "open", Time: nine.Add(-72 * time.Hour)},                     // before since
		{ID: "7", UserID: "other", Name: "open", Time: nine.Add(-time.Hour)},
	} {
		must(t, "AddEvent", s.AddEvent(t.Context(), e, nil))
	}
	got, err := s.EventsByQuarterHour(t.Context(), "u", nine.Add(-48*time.Hour), nine)
	must(t, "EventsByQuarterHour", err)
	var want [96]int
	want[32], want[37], want[0] = 2, 1, 1
	if got != want {
		t.Errorf("EventsByQuarterHour must count the user's events of every name from since to before until, by UTC quarter hour: got %v, want %v", got, want)
	}
}
