package webhook_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

func TestTestSendIgnoresEveryRuleAndCountsTowardNone(t *testing.T) {
	h := newHarness(t, &webhook.Config{
		Caps:       []webhook.Cap{{Max: 1, Per: 24 * time.Hour}},
		QuietHours: webhook.QuietHours{Start: 8 * time.Hour, End: 10 * time.Hour}, // now, 09:00 UTC
	})
	m := &webhook.Message{
		ID: "welcome", URL: h.recv.URL + "/hello/{{ user.id }}", Secrets: []string{webhook.NewSecret()},
		Data:     []webhook.Field{{Key: "plan", Value: "{{ userAttribute.plan }}"}, {Key: "p", Value: "{{ parameter.p }}"}},
		Audience: webhook.Audience{Criterion: webhook.Criterion{Attr: "plan", Op: webhook.OpEq, Value: "nobody"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup", Cap: webhook.Cap{Max: 1, Per: time.Hour}},
		Disabled: true, MaxPerMinute: 1,
	}
	h.save(t, m)
	for _, u := range []webhook.User{
		{ID: "tester1", Test: true, Attributes: webhook.Map{"plan": "pro"}},
		{ID: "tester2", Test: true, Attributes: webhook.Map{"plan": "free"}},
		{ID: "customer", Attributes: webhook.Map{"plan": "team"}},
	} {
		if err := h.sender.Identify(h.ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		results, err := h.sender.TestSend(h.ctx, "welcome", &webhook.TestSendOptions{Params: map[string]any{"p": 1}})
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 2 {
			t.Fatalf("TestSend to the test users returned %d results, want 2", len(results))
		}
		for i, r := range results {
			user := []string{"tester1", "tester2"}[i]
			a := r.Attempt
			if a.UserID != user || !a.Test || a.Outcome != webhook.Succeeded || a.StatusCode != 200 || r.Request == nil ||
				r.Request.URL != h.recv.URL+"/hello/"+user || r.Request.Header.Get("Webhook-Signature") == "" {
				t.Errorf("result %d = %+v %+v, want a signed request to %s that succeeded, marked as a test", i, r.Request, a, user)
			}
		}
	}
	reqs := h.recv.Requests()
	if len(reqs) != 4 || string(reqs[0].Body) != `{"plan":"pro","p":1}` || string(reqs[1].Body) != `{"plan":"free","p":1}` {
		t.Errorf("the receiver got %d requests, first %+v, want 4 with each test user's own profile", len(reqs), reqs)
	}
	logged := h.attempts(t, webhook.AttemptQuery{MessageID: "welcome"})
	if len(logged) != 4 || !logged[0].Test {
		t.Errorf("the attempt log holds %d attempts of the message, want the 4 test sends, marked Test", len(logged))
	}

	// The test sends count toward no cap: the customer still gets the message once enabled.
	m.Disabled, m.Audience, m.Version = false, webhook.Audience{}, 0
	h.save(t, m)
	if _, err := h.sender.Send(h.ctx, "welcome", "tester1", map[string]any{"p": 2}, nil); err != nil {
		t.Fatal(err)
	}
	h.advance(t, time.Hour) // past the quiet hours
	as := h.attempts(t, webhook.AttemptQuery{UserID: "tester1", Outcomes: []webhook.Outcome{webhook.Succeeded}})
	if len(as) != 3 || as[0].Test {
		t.Errorf("after the test sends a real send to a test user = %+v, want it sent: test sends count toward no cap", as[0])
	}
}

func TestTestSendToOneUserWithAVariantAndItsErrors(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, abTest(h.recv.URL, 1, 1, 1, 0))
	if err := h.sender.Identify(h.ctx, webhook.User{ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		variant string
		uri     string
		outcome webhook.Outcome
	}{{"B", "/b/u1", webhook.Succeeded}, {"A", "/base", webhook.Succeeded}, {webhook.ControlGroup, "", webhook.Skipped}} {
		results, err := h.sender.TestSend(h.ctx, "ab", &webhook.TestSendOptions{UserID: "u1", Variant: tt.variant})
		if err != nil {
			t.Fatal(err)
		}
		r := results[0]
		if r.Attempt.Variant != tt.variant || r.Attempt.Outcome != tt.outcome || (tt.uri == "") != (r.Request == nil) ||
			r.Request != nil && !strings.HasSuffix(r.Request.URL, tt.uri) {
			t.Errorf("TestSend of variant %s = %+v %+v, want outcome %s and a request to %q", tt.variant, r.Request, r.Attempt, tt.outcome, tt.uri)
		}
	}
	if _, err := h.sender.TestSend(h.ctx, "ab", &webhook.TestSendOptions{UserID: "u1", Variant: "Z"}); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("TestSend of an unknown variant = %v, want ErrInvalid", err)
	}
	if _, err := h.sender.TestSend(h.ctx, "nope", nil); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("TestSend of an unknown message = %v, want ErrNotFound", err)
	}
	if _, err := h.sender.TestSend(h.ctx, "ab", nil); !errors.Is(err, webhook.ErrNotFound) || !strings.Contains(err.Error(), "no test users") {
		t.Errorf("TestSend with no test users = %v, want ErrNotFound saying so", err)
	}
	if _, err := h.sender.TestSend(h.ctx, "ab", &webhook.TestSendOptions{UserID: "u1", Params: map[string]any{"f": func() {}}}); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("TestSend with params that are not JSON = %v, want ErrInvalid", err)
	}
	if js := jobVariants(t, h.store, "ab"); len(js) != 0 {
		t.Errorf("test sends enqueued jobs %v, want none", js)
	}
	held, err := h.store.AssignVariants(h.ctx, webhook.AssignVariantsParams{Assignments: []webhook.Assignment{{MessageID: "ab", UserID: "u1"}}})
	if err != nil || held[0] != "" {
		t.Errorf("the variant held for u1 after test sends = %q, %v, want none: a test send assigns nothing", held, err)
	}
}

func TestTestSendReportsFailuresOnceWithoutRetry(t *testing.T) {
	h := newHarness(t, nil)
	h.recv.SetStatus(503)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL})
	results, err := h.sender.TestSend(h.ctx, "m", &webhook.TestSendOptions{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if a := results[0].Attempt; a.Outcome != webhook.Failed || a.StatusCode != 503 || !strings.Contains(a.Err, "503") {
		t.Errorf("TestSend answered 503 = %+v, want a Failed attempt with the status", a)
	}
	h.advance(t, time.Hour)
	if n := len(h.recv.Requests()); n != 1 {
		t.Errorf("the receiver got %d requests, want 1: a test send is not retried", n)
	}
}

func TestTestSendsReachTheHooksMarkedAsTests(t *testing.T) {
	var mu sync.Mutex
	var seen []webhook.Attempt
	var ended []webhook.JobEnd
	h := newHarness(t, &webhook.Config{Hooks: webhook.Hooks{
		AttemptFinished: func(_ context.Context, a webhook.Attempt) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, a)
		},
		JobEnded: func(_ context.Context, e webhook.JobEnd) {
			mu.Lock()
			defer mu.Unlock()
			ended = append(ended, e)
		},
	}})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL})
	if _, err := h.sender.TestSend(h.ctx, "m", &webhook.TestSendOptions{UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if err := h.sender.Stop(h.ctx); err != nil { // waits for the hooks
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || !seen[0].Test || seen[0].UserID != "u1" || seen[0].Outcome != webhook.Succeeded {
		t.Errorf("AttemptFinished saw %+v, want the test send's attempt, marked Test", seen)
	}
	if len(ended) != 0 {
		t.Errorf("JobEnded saw %+v, want nothing: a test send has no job", ended)
	}
}
