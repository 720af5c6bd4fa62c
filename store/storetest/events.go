package storetest

import (
	"errors"
	"testing"

	"github.com/hookline/webhook"
)

var eventRules = []rule{
	{"AddEventEnqueuesItsJobs", testAddEventEnqueues},
	{"AddEventSkipsJobsWithKnownKeys", testAddEventDedupes},
	{"AddEventWithoutJobs", testAddEventWithoutJobs},
}

// event returns user u's purchase event id at epoch, with two Params.
func event(id, u string) webhook.Event {
	return webhook.Event{ID: id, UserID: u, Name: "purchase", Params: webhook.Map{"order": "o-1", "total": 9.5}, Time: at(0)}
}

// eventJob returns a job triggered by e.
func eventJob(id, key string, e webhook.Event) *webhook.Job {
	j := job(id, key, at(0))
	j.UserID = e.UserID
	j.Params = e.Params
	j.Event = &webhook.Event{ID: e.ID, UserID: e.UserID, Name: e.Name, Time: e.Time}
	return j
}

func testAddEventEnqueues(t *testing.T, s webhook.Store) {
	e := event("e1", "u1")
	jobs := []*webhook.Job{eventJob("j1", "k1", e), eventJob("j2", "k2", e)}
	must(t, "AddEvent", s.AddEvent(t.Context(), e, jobs))
	for _, want := range jobs {
		checkJob(t, s, "after AddEvent", want)
	}
}

func testAddEventDedupes(t *testing.T, s webhook.Store) {
	e := event("e1", "u1")
	must(t, "Enqueue", s.Enqueue(t.Context(), []*webhook.Job{job("j1", "k1", at(0))}))
	must(t, "AddEvent", s.AddEvent(t.Context(), e, []*webhook.Job{eventJob("j2", "k1", e), eventJob("j3", "k3", e)}))
	if _, err := s.Job(t.Context(), "j2"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("AddEvent saved job j2 although its key was enqueued before: Job = %v, want ErrNotFound", err)
	}
	checkJob(t, s, "after AddEvent", eventJob("j3", "k3", e))
}

func testAddEventWithoutJobs(t *testing.T, s webhook.Store) {
	must(t, "AddEvent without jobs", s.AddEvent(t.Context(), event("e1", "u1"), nil))
	if _, ok, err := s.NextDue(t.Context()); err != nil || ok {
		t.Errorf("NextDue after AddEvent without jobs = %v, %v; want nothing due", ok, err)
	}
}
