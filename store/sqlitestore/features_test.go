package sqlitestore_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/webhooktest"
)

// TestVariantsSurviveARestart assigns variants through one Sender, closes the database,
// and sends again through a new Sender on the reopened file, with other weights: every user
// keeps the variant it had (#17).
func TestVariantsSurviveARestart(t *testing.T) {
	const users = 300
	path := filepath.Join(t.TempDir(), "hooks.db")
	ab := func(a, b int) *webhook.Message {
		return &webhook.Message{
			ID: "ab", URL: "https://example.com",
			Variants:      []webhook.Variant{{ID: "A", Weight: a}, {ID: "B", Weight: b}},
			ControlWeight: 1,
			Delivery:      webhook.Delivery{Kind: webhook.Triggered, Event: "e"},
		}
	}
	run := func(m *webhook.Message, n int) map[string]string {
		store, db, err := openStore(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s, _ := webhooktest.NewSender(t, store, &webhook.Config{Logger: slog.New(slog.DiscardHandler)}) // not started
		if err := s.SaveMessage(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		events := make([]webhook.Event, n)
		for i := range events {
			events[i] = webhook.Event{UserID: fmt.Sprintf("u%d", i), Name: "e"}
		}
		if err := s.TriggerMany(t.Context(), events); err != nil {
			t.Fatal(err)
		}
		jobs, err := store.Jobs(t.Context(), webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "ab"}})
		if err != nil {
			t.Fatal(err)
		}
		variants := map[string]string{}
		for _, j := range jobs {
			if v, ok := variants[j.UserID]; ok && v != j.Variant {
				t.Errorf("user %s has jobs of variants %q and %q", j.UserID, v, j.Variant)
			}
			variants[j.UserID] = j.Variant
		}
		return variants
	}
	before := run(ab(1, 1), users)
	after := run(ab(1, 1000), users+100) // a new process, and nearly everyone to B
	moved, newB := 0, 0
	for user, v := range after {
		if old, ok := before[user]; !ok {
			if v == "B" {
				newB++
			}
		} else if old != v {
			moved++
		}
	}
	if moved > 0 || len(before) != users {
		t.Errorf("%d of %d users moved to another variant after a restart with new weights, want none", moved, len(before))
	}
	if newB < 95 {
		t.Errorf("%d of 100 new users got B, want nearly all", newB)
	}
}

// TestFeaturesOnSQLite runs a snippet, a test send, a profile update from the response and
// the attempt log by variant through a Sender on SQLite (#17).
func TestFeaturesOnSQLite(t *testing.T) {
	h := newSenderOnSQLite(t, &webhook.Config{})
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"profile":{"tier":"gold"},"ignored":1}`))
	}))
	t.Cleanup(crm.Close)
	h.do(t, "SaveTemplate", h.sender.SaveTemplate(h.ctx, &webhook.Template{Kind: webhook.Snippet, Name: "who", Source: "{{ user.id }}"}))
	m := &webhook.Message{
		ID: "lookup", Method: "GET", URL: crm.URL + "/lookup", Data: []webhook.Field{{Key: "who", Value: "{% include 'who' %}"}},
		UpdateProfile: &webhook.ProfileUpdate{Map: []webhook.ProfileRule{{Path: "/profile/tier", Attribute: "tier"}}},
		Variants:      []webhook.Variant{{ID: "A", Weight: 1}},
		Delivery:      webhook.Delivery{Kind: webhook.Triggered, Event: "signup"},
	}
	h.do(t, "SaveMessage", h.sender.SaveMessage(h.ctx, m))
	h.do(t, "Identify", h.sender.Identify(h.ctx, webhook.User{ID: "tester", Test: true}))
	results, err := h.sender.TestSend(h.ctx, "lookup", nil)
	if err != nil || len(results) != 1 || results[0].Request.URL != crm.URL+"/lookup?who=tester" || results[0].Attempt.Outcome != webhook.Succeeded {
		t.Fatalf("TestSend = %+v, %v, want one request with the snippet rendered, succeeded", results, err)
	}
	h.do(t, "Trigger", h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "signup"}))
	for _, id := range []string{"tester", "u1"} {
		us, err := h.store.Users(h.ctx, webhook.UserQuery{IDs: []string{id}})
		if err != nil || len(us) != 1 || us[0].Attributes["tier"] != "gold" {
			t.Errorf("user %s after the response = %+v, %v; want its tier gold", id, us, err)
		}
	}
	as, err := h.sender.Attempts(h.ctx, webhook.AttemptQuery{Variant: "A"})
	if err != nil || len(as) != 2 || !as[1].Test || as[0].Test || as[0].UserID != "u1" {
		t.Errorf("attempts of variant A = %+v, %v; want the test send's and u1's, newest first", as, err)
	}
}
