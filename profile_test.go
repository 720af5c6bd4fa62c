package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

// jsonServer is a loopback server that answers every request with body, as JSON, and counts
// the requests.
func jsonServer(tb testing.TB, body string) (*httptest.Server, *int) {
	tb.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	tb.Cleanup(srv.Close)
	return srv, &n
}

// profileMessage returns a message Triggered by "lookup" that GETs url and updates the
// profile from the response as p says.
func profileMessage(url string, p *webhook.ProfileUpdate) *webhook.Message {
	return &webhook.Message{
		ID: "lookup", Method: "GET", URL: url + "/profile", Data: []webhook.Field{{Key: "user", Value: "{{ user.id }}"}},
		UpdateProfile: p,
		Delivery:      webhook.Delivery{Kind: webhook.Triggered, Event: "lookup"},
	}
}

func TestUpdateProfileMergesTheResponse(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
		p    webhook.ProfileUpdate
		want webhook.Map
	}{
		{"whole", `{"plan":"pro","seats":3,"old":null,"address":{"city":"Lyon"}}`, webhook.ProfileUpdate{},
			webhook.Map{"plan": "pro", "seats": int64(3), "keep": true, "address": webhook.Map{"city": "Lyon"}}},
		{"by rules", `{"data":{"plan":"team","list":["a","b"],"a/b":1},"old":"x"}`, webhook.ProfileUpdate{Map: []webhook.ProfileRule{
			{Path: "/data/plan", Attribute: "plan"}, {Path: "/data/list/1", Attribute: "second"},
			{Path: "/data/a~1b", Attribute: "slash"}, {Path: "/data/missing", Attribute: "old"},
		}}, webhook.Map{"plan": "team", "second": "b", "slash": int64(1), "old": "gone?", "keep": true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			srv, _ := jsonServer(t, tt.body)
			h.save(t, profileMessage(srv.URL, &tt.p))
			if err := h.sender.Identify(h.ctx, webhook.User{ID: "u1", Email: "a@example.com", Attributes: webhook.Map{"old": "gone?", "keep": true}}); err != nil {
				t.Fatal(err)
			}
			h.trigger(t, webhook.Event{UserID: "u1", Name: "lookup"})
			h.idle(t)
			u, err := getUser(h.ctx, h.store, "u1")
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if tt.name == "whole" {
				delete(want, "old") // null removes it
			}
			if diff := cmp.Diff(want, u.Attributes); diff != "" {
				t.Errorf("attributes after the response %s (-want +got):\n%s", tt.body, diff)
			}
			if as := h.attempts(t, webhook.AttemptQuery{}); len(as) != 1 || as[0].Outcome != webhook.Succeeded {
				t.Errorf("attempts = %+v, want one that succeeded", as)
			}
		})
	}
}

func TestUpdatedProfileIsWhatTheNextRenderAndAudienceSee(t *testing.T) {
	h := newHarness(t, nil)
	srv, _ := jsonServer(t, `{"plan":"gold"}`)
	h.save(t, profileMessage(srv.URL, &webhook.ProfileUpdate{}))
	h.save(t, &webhook.Message{
		ID: "gold-only", URL: h.recv.URL + "/{{ userAttribute.plan }}",
		Audience: webhook.Audience{Criterion: webhook.Criterion{Attr: "plan", Op: webhook.OpEq, Value: "gold"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "lookup", Delay: time.Minute},
	})
	if err := h.sender.Identify(h.ctx, webhook.User{ID: "u1", Attributes: webhook.Map{"plan": "free"}}); err != nil {
		t.Fatal(err)
	}
	// The audience is checked when the event comes (free: no job) and before the send.
	h.trigger(t, webhook.Event{UserID: "u1", Name: "lookup"})
	h.idle(t)
	h.trigger(t, webhook.Event{UserID: "u1", Name: "lookup"})
	h.idle(t)
	h.advance(t, time.Minute)
	reqs := h.recv.Requests()
	if len(reqs) != 1 || reqs[0].URI != "/gold" {
		t.Errorf("requests of the message for gold users = %+v, want one to /gold: the profile update made the user gold", reqs)
	}
}

func TestUpdateProfileRefusesWhatItCannotRead(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		p          webhook.ProfileUpdate
		want       string
	}{
		{"not JSON", "<html>oops</html>", webhook.ProfileUpdate{}, "update profile: the response is not JSON"},
		{"two values", `{"a":1} {"b":2}`, webhook.ProfileUpdate{}, "the response is not JSON: more than one value"},
		{"not an object", `[1,2]`, webhook.ProfileUpdate{}, "update profile: the response is an array, not an object"},
		{"too large", `{"a":"` + strings.Repeat("x", 200) + `"}`, webhook.ProfileUpdate{MaxBytes: 100}, "update profile: the response is larger than 100 bytes (UpdateProfile.MaxBytes)"},
		{"too deep", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), webhook.ProfileUpdate{}, "nested more than 32 levels deep"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			srv, n := jsonServer(t, tt.body)
			h.save(t, profileMessage(srv.URL, &tt.p))
			h.triggerAndRetry(t, webhook.Event{UserID: "u1", Name: "lookup"})
			as := h.attempts(t, webhook.AttemptQuery{})
			if len(as) != 1 || as[0].Outcome != webhook.Failed || !strings.Contains(as[0].Err, tt.want) || as[0].StatusCode != 200 {
				t.Errorf("attempts = %+v, want one that failed for good with status 200 and an error saying %q", as, tt.want)
			}
			if *n != 1 {
				t.Errorf("the server got %d requests, want 1: a response that cannot be read is not retried", *n)
			}
			if u, err := getUser(h.ctx, h.store, "u1"); err == nil && len(u.Attributes) > 0 {
				t.Errorf("the user's attributes are %v, want none", u.Attributes)
			}
		})
	}
}

func TestProfileUpdateValidation(t *testing.T) {
	m := profileMessage("https://example.com", &webhook.ProfileUpdate{MaxBytes: 2 << 20, Map: []webhook.ProfileRule{{Path: "data.plan"}}})
	want := []string{
		"update_profile.max_bytes: must be from 0 to 1048576, got 2097152",
		`update_profile.map[0].path: "data.plan" is not a JSON Pointer: it starts with '/', as in /data/plan`,
		"update_profile.map[0].attribute: required",
	}
	if diff := cmp.Diff(want, problems(m.Validate())); diff != "" {
		t.Errorf("Validate problems (-want +got):\n%s", diff)
	}
}

func TestOnResponseSeesTheResponseAndItsErrorIsRetried(t *testing.T) {
	var mu sync.Mutex
	var seen []webhook.Response
	fail := true
	h := newHarness(t, &webhook.Config{OnResponse: func(_ context.Context, r *webhook.Response) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, *r)
		if fail {
			fail = false
			return errors.New("crm is down")
		}
		return nil
	}})
	srv, _ := jsonServer(t, `{"ok":true}`)
	h.save(t, &webhook.Message{ID: "m", URL: srv.URL, Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	h.triggerAndRetry(t, webhook.Event{UserID: "u1", Name: "e"})
	as := h.attempts(t, webhook.AttemptQuery{})
	if len(as) != 2 || as[1].Outcome != webhook.Retrying || as[1].Err != "OnResponse: crm is down" || as[0].Outcome != webhook.Succeeded {
		t.Errorf("attempts, newest first = %+v, want a retry after the error of OnResponse, then a success", as)
	}
	if len(seen) != 2 || string(seen[0].Body) != `{"ok":true}` || seen[0].StatusCode != 200 || seen[1].Attempt != 2 ||
		seen[0].UserID != "u1" || seen[0].MessageID != "m" || seen[0].JobID != as[0].JobID || seen[0].Truncated {
		t.Errorf("OnResponse saw %+v, want both responses with their body, status and job", seen)
	}
}
