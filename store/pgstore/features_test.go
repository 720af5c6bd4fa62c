package pgstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/webhooktest"
)

// TestVariantsAgreeAcrossSendersOnPostgres has two Senders on pools of their own assign the
// variants of the same users at the same time: each user gets one variant, whichever
// assigned it (#17).
func TestVariantsAgreeAcrossSendersOnPostgres(t *testing.T) {
	const users = 400
	schema := newSchema(t)
	m := &webhook.Message{
		ID: "ab", URL: "https://example.com",
		Variants:      []webhook.Variant{{ID: "A", Weight: 1}, {ID: "B", Weight: 1}},
		ControlWeight: 1,
		Delivery:      webhook.Delivery{Kind: webhook.Triggered, Event: "e"},
	}
	stores := []*pgstore.Store{pgstore.New(newPool(t, schema)), pgstore.New(newPool(t, schema))}
	senders := make([]*webhook.Sender, len(stores))
	for i, s := range stores {
		senders[i], _ = webhooktest.NewSender(t, s, nil) // not started
	}
	if err := senders[0].SaveMessage(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Go(func() {
			for start := 0; start < users; start += 50 {
				events := make([]webhook.Event, 50)
				for k := range events {
					// Each Sender goes through the users in its own order, so they meet.
					u := (start + k) * (1 + 2*i) % users
					events[k] = webhook.Event{UserID: fmt.Sprintf("u%d", u), Name: "e"}
				}
				if err := s.TriggerMany(t.Context(), events); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	jobs, err := stores[0].Jobs(t.Context(), webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "ab"}})
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]string{}
	for _, j := range jobs {
		if j.Variant == "" {
			t.Errorf("job %s of user %s has no variant", j.ID, j.UserID)
		}
		if v, ok := variants[j.UserID]; ok && v != j.Variant {
			t.Errorf("user %s has jobs of variants %q and %q", j.UserID, v, j.Variant)
		}
		variants[j.UserID] = j.Variant
	}
	if len(jobs) != 2*users || len(variants) != users {
		t.Errorf("%d jobs for %d users, want %d for %d", len(jobs), len(variants), 2*users, users)
	}
}

// TestFeaturesOnPostgres runs a snippet, a test send, a profile update from the response and
// the attempt log by variant through a Sender on PostgreSQL (#17).
func TestFeaturesOnPostgres(t *testing.T) {
	ctx, schema, _, clock := sharedQueue(t)
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"profile":{"tier":"gold"},"ignored":1}`))
	}))
	t.Cleanup(crm.Close)
	store := pgstore.New(newPool(t, schema))
	s := newSender(t, store, clock, "s")
	webhooktest.Start(t, s)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("SaveTemplate", s.SaveTemplate(ctx, &webhook.Template{Kind: webhook.Snippet, Name: "who", Source: "{{ user.id }}"}))
	must("SaveMessage", s.SaveMessage(ctx, &webhook.Message{
		ID: "lookup", Method: "GET", URL: crm.URL + "/lookup", Data: []webhook.Field{{Key: "who", Value: "{% include 'who' %}"}},
		UpdateProfile: &webhook.ProfileUpdate{Map: []webhook.ProfileRule{{Path: "/profile/tier", Attribute: "tier"}}},
		Variants:      []webhook.Variant{{ID: "A", Weight: 1}},
		Delivery:      webhook.Delivery{Kind: webhook.Triggered, Event: "signup"},
	}))
	must("Identify", s.Identify(ctx, webhook.User{ID: "tester", Test: true}))
	results, err := s.TestSend(ctx, "lookup", nil)
	if err != nil || len(results) != 1 || results[0].Request.URL != crm.URL+"/lookup?who=tester" || results[0].Attempt.Outcome != webhook.Succeeded {
		t.Fatalf("TestSend = %+v, %v, want one request with the snippet rendered, succeeded", results, err)
	}
	must("Trigger", s.Trigger(ctx, webhook.Event{UserID: "u1", Name: "signup"}))
	must("idle", clock.BlockUntil(ctx, 1))
	for _, id := range []string{"tester", "u1"} {
		us, err := store.Users(ctx, webhook.UserQuery{IDs: []string{id}})
		if err != nil || len(us) != 1 || us[0].Attributes["tier"] != "gold" {
			t.Errorf("user %s after the response = %+v, %v; want its tier gold", id, us, err)
		}
	}
	as, err := s.Attempts(ctx, webhook.AttemptQuery{Variant: "A"})
	if err != nil || len(as) != 2 || !as[1].Test || as[0].Test || as[0].UserID != "u1" {
		t.Errorf("attempts of variant A = %+v, %v; want the test send's and u1's, newest first", as, err)
	}
}
