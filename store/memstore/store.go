// Package memstore is an in-memory [webhook.Store], the embedded default. It keeps everything
// in the process's memory and loses it when the process ends: use it for development, tests,
// and apps that can afford to lose pending jobs; use store/sqlitestore or store/pgstore to
// keep them.
package memstore

import (
	"context"
	"sync"

	"github.com/hookline/webhook"
)

// Store is an in-memory [webhook.Store]. Its zero value is not usable; call [New]. A Store is
// safe for concurrent use.
//
// Its files follow the roles of the Store contract, as those of store/sqlitestore and
// store/pgstore do: users.go, events.go, messages.go, jobs.go, attempts.go, campaigns.go, and
// for the optional roles variants.go, templates.go and inspect.go.
type Store struct {
	mu       sync.Mutex                          // guards every field below
	users    map[string]webhook.User             // by ID
	userIDs  []string                            // the keys of users, sorted unless dirty
	dirty    bool                                // userIDs is missing IDs or out of order
	events   map[historyKey]*history             // events by user and name, in time order
	eventIDs map[eventKey]bool                   // the user and ID of every event saved
	seq      uint64                              // events saved
	names    map[string][]string                 // user ID → the names of its events
	messages map[string]*messageVersions         // by ID
	triggers map[string]map[string]bool          // event name → IDs of messages it triggers
	jobs     map[string]*record                  // by ID
	keys     map[string]string                   // dedupe key → job ID
	queue    queue                               // scheduled and running jobs by due time
	states   stateCounts                         // how many jobs are in each state
	counts   map[string]*stateCounts             // message ID → how many of its jobs are in each state
	lastSeq  int64                               // the Seq of the latest attempt recorded
	unless   map[string]map[string]bool          // user ID → IDs of its jobs with an Unless event, at least those not ended
	attempts attemptLog                          // in the order recorded
	sent     map[string][]int                    // user ID → the positions of its succeeded attempts in attempts, by time
	campaign map[string]*webhook.Campaign        // campaigns by message ID
	variants map[[2]string]string                // (message ID, user ID) → the user's variant
	library  map[templateKey][]*webhook.Template // saved templates by kind and name; element i is version i+1
}

// templateKey names a saved template.
type templateKey struct {
	kind webhook.TemplateKind
	name string
}

var (
	_ webhook.Store         = (*Store)(nil)
	_ webhook.AttemptPruner = (*Store)(nil)
	_ webhook.QueueReader   = (*Store)(nil)
	_ webhook.VariantStore  = (*Store)(nil)
	_ webhook.TemplateStore = (*Store)(nil)
	_ webhook.Inspector     = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{
		users:    map[string]webhook.User{},
		events:   map[historyKey]*history{},
		eventIDs: map[eventKey]bool{},
		names:    map[string][]string{},
		messages: map[string]*messageVersions{},
		triggers: map[string]map[string]bool{},
		jobs:     map[string]*record{},
		keys:     map[string]string{},
		counts:   map[string]*stateCounts{},
		unless:   map[string]map[string]bool{},
		sent:     map[string][]int{},
		campaign: map[string]*webhook.Campaign{},
		variants: map[[2]string]string{},
		library:  map[templateKey][]*webhook.Template{},
	}
}

// lock checks ctx, then takes the Store's lock; the caller unlocks it.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	return nil
}
