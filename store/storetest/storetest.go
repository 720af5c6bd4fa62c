// Package storetest checks a [webhook.Store] against the whole Store contract, the way
// testing/fstest checks an fs.FS: every adapter in this module passes [Run], and so must
// yours.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) webhook.Store {
//			return mystore.New(openTestDB(t))
//		})
//	}
//
// Each rule of the contract is a subtest named for its role and rule, such as
// "Jobs/ClaimNeverGivesAJobToTwoClaimers", and its failure message says what the rule
// expected. The roles are those of [webhook.Store] (Users, Events, Messages, Jobs, Attempts,
// Campaigns), then the rules every method follows (Store, Context); the rules of the optional
// roles [webhook.AttemptPruner], [webhook.Notifier], [webhook.QueueReader],
// [webhook.VariantStore], [webhook.TemplateStore], [webhook.Inspector] and
// [webhook.AudienceStore] are skipped for a Store that does not implement them. Rules give times far from the wall clock, with microseconds and in
// locations other than UTC, so a Store that reads the time instead of using the time it is
// given, or that keeps less than microseconds, or that compares times in different locations
// by their wall clocks, fails them. [Bench] measures a Store with the same newStore function.
package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hookline/webhook"
)

// rule is one rule of the Store contract, checked on a new, empty Store.
type rule struct {
	name string
	test func(t *testing.T, s webhook.Store)
}

// groups are the rules of each role of the Store, one file each: a new role adds its file
// and one line here.
var groups = []struct {
	name  string
	rules []rule
}{
	{"Users", userRules},
	{"Events", eventRules},
	{"Messages", messageRules},
	{"Jobs", jobRules},
	{"Attempts", attemptRules},
	{"Campaigns", campaignRules},
	{"Store", storeRules},
	{"Context", contextRules},
	{"AttemptPruner", prunerRules},
	{"Notifier", notifierRules},
	{"QueueReader", queueRules},
	{"VariantStore", variantRules},
	{"TemplateStore", templateRules},
	{"Inspector", inspectorRules},
	{"AudienceStore", audienceRules},
}

// Run checks the Store that newStore returns against every rule of the Store contract, each
// in its own subtest. newStore is called once per rule and must return a new, empty Store;
// it may register cleanup with t.Cleanup and should call t.Fatal if it cannot make one.
// Rules run one after another, not in parallel.
func Run(t *testing.T, newStore func(t *testing.T) webhook.Store) {
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, r := range g.rules {
				t.Run(r.name, func(t *testing.T) { r.test(t, newStore(t)) })
			}
		})
	}
}

// epoch is the time the rules start from: long before the wall clock, so a Store that uses
// time.Now instead of the time it is given claims jobs too early and is caught; with
// microseconds, which a Store must keep; and in a location other than UTC, since a Store
// must read times back as the same instants in any location.
var epoch = time.Date(2001, 2, 3, 4, 5, 6, 123456000, time.FixedZone("+0530", 5*3600+30*60))

// at returns epoch plus d.
func at(d time.Duration) time.Time { return epoch.Add(d) }

// µs is the least difference between two times that a Store must tell apart.
const µs = time.Microsecond

// diffOpts compare values read back from a Store with the values saved: nil and empty maps
// and slices alike, and an attempt's Seq, which the Store sets, ignored. cmp compares times
// by instant, with their Equal method, so a Store may return them in another location.
var diffOpts = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.IgnoreFields(webhook.Attempt{}, "Seq")}

// must fails the rule at once if err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var storeRules = []rule{
	{"TimesAreInstantsInAnyLocation", testTimeLocations},
}

func testTimeLocations(t *testing.T, s webhook.Store) {
	// Each pair's wall clocks sort opposite to its instants: a Store that compares times by
	// their wall clocks, or drops their locations, gets the order wrong.
	east, west := time.FixedZone("+1400", 14*3600), time.FixedZone("-1100", -11*3600)
	first, second := at(0).In(east), at(time.Hour+µs).In(west)
	saveEvents(t, s, webhook.Event{ID: "second", UserID: "u1", Name: "e", Time: second}, webhook.Event{ID: "first", UserID: "u1", Name: "e", Time: first})
	if got := eventIDs(events(t, s, webhook.EventQuery{UserID: "u1"})); !cmp.Equal(got, []string{"first", "second"}) {
		t.Errorf("Events of events at %v and %v = %v, want [first second]: in Time order", first, second, got)
	}
	if got := eventIDs(events(t, s, webhook.EventQuery{UserID: "u1", Since: at(time.Hour).UTC()})); !cmp.Equal(got, []string{"second"}) {
		t.Errorf("Events since %v = %v, want [second]", at(time.Hour).UTC(), got)
	}

	enqueueJobs(t, s, job("second", "k2", second), job("first", "k1", first))
	if got := ids(claim(t, s, at(30*time.Minute).UTC(), "w", 10)); !cmp.Equal(got, []string{"first"}) {
		t.Errorf("Claim at %v of jobs due at %v and %v = %v, want [first]", at(30*time.Minute).UTC(), first, second, got)
	}
	checkJob(t, s, "a job's times read back as the same instants", &webhook.Job{
		ID: "second", Key: "k2", MessageID: "m1", MessageVersion: 2, UserID: "u1", Params: job("", "", second).Params,
		State: webhook.JobScheduled, CreatedAt: at(-time.Hour), DueAt: second,
	})

	record(t, s, &webhook.Attempt{JobID: "a", UserID: "u1", Number: 1, Time: first, Outcome: webhook.Succeeded},
		&webhook.Attempt{JobID: "b", UserID: "u1", Number: 1, Time: second, Outcome: webhook.Succeeded})
	if got := attemptIDs(attempts(t, s, webhook.AttemptQuery{UserID: "u1"})); !cmp.Equal(got, []string{"b#1", "a#1"}) {
		t.Errorf("Attempts at %v and %v = %v, want [b#1 a#1]: newest first", first, second, got)
	}

	c1, c2 := campaign("c1", first), campaign("c2", second)
	putCampaigns(t, s, c2, c1)
	res := leaseCampaign(t, s, at(2*time.Hour).UTC(), "w", time.Minute)
	if campaignID(res.Campaign) != "c1" {
		t.Errorf("LeaseCampaign of campaigns due at %v and %v = %s, want c1: the earliest NextAt", first, second, campaignID(res.Campaign))
	}
}
