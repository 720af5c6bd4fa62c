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
// "Deliveries/ClaimNeverGivesAJobToTwoClaimers", and its failure message says what the rule
// expected. Rules use times far from the wall clock, so a Store that reads the time instead
// of using the time it is given fails them. [Bench] measures a Store with the same
// newStore function.
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
	{"Deliveries", deliveryRules},
	{"Attempts", attemptRules},
	{"EventHistory", historyRules},
	{"Campaigns", campaignRules},
	{"Context", contextRules},
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
// time.Now instead of the time it is given claims jobs too early and is caught.
var epoch = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// at returns epoch plus d.
func at(d time.Duration) time.Time { return epoch.Add(d) }

// diffOpts compare values read back from a Store with the values saved: nil and empty maps
// and slices alike. cmp compares times by instant, with their Equal method, so a Store may
// return them in another location.
var diffOpts = []cmp.Option{cmpopts.EquateEmpty()}

// must fails the rule at once if err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
