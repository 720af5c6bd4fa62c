package webhook_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// newLoopbackSender returns a Sender on memstore and a fake clock, which reaches loopback
// receivers and logs nothing, for the examples that send. The clock's BlockUntil waits until
// the Sender has sent everything due.
func newLoopbackSender() (*webhook.Sender, *webhooktest.FakeClock) {
	clock := webhooktest.NewFakeClock(webhooktest.Epoch)
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		Clock:         clock,
		AllowNetworks: webhooktest.LoopbackNetworks(),
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	return s, clock
}

// An A/B test: each user gets variant A or B, or, in the control group, nothing; the
// assignment is a hash of the message's and the user's IDs, remembered by the Store, so a
// user keeps a variant for good. The attempt log filters by variant.
func ExampleVariant() {
	ctx := context.Background()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer receiver.Close()
	s, clock := newLoopbackSender()
	err := s.SaveMessage(ctx, &webhook.Message{
		ID:   "promo",
		URL:  receiver.URL + "/promo",
		Data: []webhook.Field{{Key: "offer", Value: "{{ '10%' if variant == 'A' else 'free shipping' }}"}},
		Variants: []webhook.Variant{
			{ID: "A", Weight: 45},
			{ID: "B", Weight: 45, Headers: []webhook.Field{{Key: "X-Campaign", Value: "promo-b"}}},
		},
		ControlWeight: 10,
	})
	if err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	for i := range 8 {
		if _, err := s.Send(ctx, "promo", fmt.Sprintf("user-%d", i), nil, nil); err != nil {
			panic(err)
		}
	}
	if err := clock.BlockUntil(ctx, 1); err != nil { // until every job is sent and logged
		panic(err)
	}
	if err := s.Stop(ctx); err != nil {
		panic(err)
	}
	for _, v := range []string{"A", "B", webhook.ControlGroup} {
		as, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "promo", Variant: v})
		var users []string
		for _, a := range as {
			users = append(users, a.UserID+" "+string(a.Outcome)+" "+a.RequestBody)
		}
		slices.Sort(users)
		fmt.Println(v, users)
	}
	// Output:
	// A [user-0 succeeded {"offer":"10%"} user-3 succeeded {"offer":"10%"} user-7 succeeded {"offer":"10%"}]
	// B [user-2 succeeded {"offer":"free shipping"} user-4 succeeded {"offer":"free shipping"} user-5 succeeded {"offer":"free shipping"} user-6 succeeded {"offer":"free shipping"}]
	// control [user-1 skipped ]
}

// Snippets are saved in the Store and loaded by name. A message records the versions of the
// snippets it loads; saving a snippet saves a new version of the messages that load it, so
// jobs enqueued from then on render with it, and those enqueued before keep the old one.
func ExampleSender_SaveTemplate() {
	ctx := context.Background()
	s, _ := newLoopbackSender()
	for _, t := range []*webhook.Template{
		{Kind: webhook.Snippet, Name: "crm", Source: "{% macro contact(kind) %}{{ kind }}:{{ user.id }}{% endmacro %}"},
		{Kind: webhook.Snippet, Name: "footer", Source: "Sent by Acme"},
	} {
		if err := s.SaveTemplate(ctx, t); err != nil {
			panic(err)
		}
	}
	m := &webhook.Message{
		ID:  "welcome",
		URL: "https://crm.example.com/hooks",
		Data: []webhook.Field{
			{Key: "contact", Value: "{% from 'crm' import contact %}{{ contact('email') }}"},
			{Key: "footer", Value: "{% include 'footer' %}"},
		},
	}
	if err := s.SaveMessage(ctx, m); err != nil {
		panic(err)
	}
	fmt.Println("version", m.Version, "snippets", m.Snippets)
	if err := s.SaveTemplate(ctx, &webhook.Template{Kind: webhook.Snippet, Name: "footer", Source: "Sent by Acme, Inc."}); err != nil {
		panic(err)
	}
	m, _ = s.Message(ctx, "welcome", 0)
	fmt.Println("version", m.Version, "snippets", m.Snippets)
	req, err := s.Preview(ctx, m, "u1", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(req.Body))

	err = s.SaveMessage(ctx, &webhook.Message{ID: "broken", URL: "https://example.com", Data: []webhook.Field{{Key: "f", Value: "{% include 'fotter' %}"}}})
	fmt.Println(err)
	// Output:
	// version 1 snippets map[crm:1 footer:1]
	// version 2 snippets map[crm:1 footer:2]
	// {"contact":"email:u1","footer":"Sent by Acme, Inc."}
	// webhook: invalid message "broken": data[0].value: line 1 col 12: no snippet 'fotter'
}

// A saved webhook template is the start of new messages: its method, URL, headers and data.
func ExampleTemplate_NewMessage() {
	ctx := context.Background()
	s, _ := newLoopbackSender()
	err := s.SaveTemplate(ctx, &webhook.Template{
		Kind: webhook.WebhookTemplate, Name: "crm-update", Method: "PUT",
		URL:  "https://crm.example.com/users/{{ user.id }}",
		Data: []webhook.Field{{Key: "source", Value: "hookline"}},
	})
	if err != nil {
		panic(err)
	}
	t, err := s.Template(ctx, webhook.WebhookTemplate, "crm-update", 0)
	if err != nil {
		panic(err)
	}
	m := t.NewMessage("gold-status")
	m.Data = append(m.Data, webhook.Field{Key: "status", Value: "gold"})
	if err := s.SaveMessage(ctx, m); err != nil {
		panic(err)
	}
	req, _ := s.Preview(ctx, m, "u1", nil)
	fmt.Println(req.Method, req.URL, string(req.Body), "from", m.Template.Name, "version", m.Template.Version)
	// Output:
	// PUT https://crm.example.com/users/u1 {"source":"hookline","status":"gold"} from crm-update version 1
}

// A test send goes now to the test users, with their own profiles, whatever the message's
// audience, caps and quiet hours say, even while it is disabled; each gets the exact request
// and the response back, and the attempt log marks the attempts as tests.
func ExampleSender_TestSend() {
	ctx := context.Background()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", body)
	}))
	defer receiver.Close()
	s, _ := newLoopbackSender()
	for _, u := range []webhook.User{
		{ID: "qa-1", Test: true, Attributes: webhook.Map{"name": "Ann"}},
		{ID: "qa-2", Test: true, Attributes: webhook.Map{"name": "Bob"}},
		{ID: "customer", Attributes: webhook.Map{"name": "Cy"}},
	} {
		if err := s.Identify(ctx, u); err != nil {
			panic(err)
		}
	}
	err := s.SaveMessage(ctx, &webhook.Message{
		ID: "launch", URL: receiver.URL + "/hooks", Disabled: true,
		Data:     []webhook.Field{{Key: "hi", Value: "{{ userAttribute.name }}"}},
		Audience: webhook.Audience{Criterion: webhook.Criterion{Attr: "name", Op: webhook.OpEq, Value: "Cy"}},
	})
	if err != nil {
		panic(err)
	}
	results, err := s.TestSend(ctx, "launch", nil)
	if err != nil {
		panic(err)
	}
	for _, r := range results {
		fmt.Println(r.Attempt.UserID, r.Request.Method, string(r.Request.Body), "→", r.Attempt.StatusCode, r.Attempt.ResponseBody)
	}
	logged, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "launch"})
	fmt.Println(len(logged), "attempts logged, test:", logged[0].Test)
	// Output:
	// qa-1 POST {"hi":"Ann"} → 200 got {"hi":"Ann"}
	// qa-2 POST {"hi":"Bob"} → 200 got {"hi":"Bob"}
	// 2 attempts logged, test: true
}

// Iterable's "Update User Profile" webhook: a GET whose JSON response is merged into the
// user's attributes, here by rules from parts of the response; the next rendering sees them.
func ExampleProfileUpdate() {
	ctx := context.Background()
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"data":{"company":"Acme","seats":12},"email":%q}`, r.URL.Query().Get("email"))
	}))
	defer partner.Close()
	s, clock := newLoopbackSender()
	err := s.SaveMessage(ctx, &webhook.Message{
		ID: "enrich", Method: "GET", URL: partner.URL + "/lookup",
		Data: []webhook.Field{{Key: "email", Value: "{{ user.email }}"}},
		UpdateProfile: &webhook.ProfileUpdate{Map: []webhook.ProfileRule{
			{Path: "/data/company", Attribute: "company"},
			{Path: "/data/seats", Attribute: "seats"},
		}},
	})
	if err != nil {
		panic(err)
	}
	if err := s.Identify(ctx, webhook.User{ID: "u1", Email: "ann@acme.example", Attributes: webhook.Map{"plan": "trial"}}); err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	if _, err := s.Send(ctx, "enrich", "u1", nil, nil); err != nil {
		panic(err)
	}
	if err := clock.BlockUntil(ctx, 1); err != nil { // until the job is sent and logged
		panic(err)
	}
	if err := s.Stop(ctx); err != nil {
		panic(err)
	}
	m := &webhook.Message{ID: "hello", URL: "https://example.com", Data: []webhook.Field{{Key: "greeting", Value: "Welcome, {{ userAttribute.company }} ({{ userAttribute.seats }} seats)"}}}
	req, _ := s.Preview(ctx, m, "u1", nil)
	fmt.Println(string(req.Body))
	// Output:
	// {"greeting":"Welcome, Acme (12 seats)"}
}

// A message copied from Leanplum keeps its tokens: with Dialect "leanplum", {{User ID}} reads
// the user's ID, and parameter and userAttribute are the library's own. (Seed 001: "Be sure to
// use {{User ID}} and {{parameter['newStatus']}}".) Problems are reported where the text
// has them.
func ExampleMessage_dialect() {
	ctx := context.Background()
	s, _ := newLoopbackSender()
	m := &webhook.Message{
		ID:      "set-status",
		Dialect: "leanplum",
		URL:     "https://api.leanplum.com/api?action=setUserAttributes&userId={{User ID}}&userAttributes={{parameter['newStatus']}}",
	}
	if err := s.SaveMessage(ctx, m); err != nil {
		panic(err)
	}
	req, _ := s.Preview(ctx, m, "u 42", map[string]any{"newStatus": "Gold"})
	fmt.Println(req.URL)

	m.Data = []webhook.Field{{Key: "device", Value: "{{Device ID}}"}}
	fmt.Println(m.Validate())
	// Output:
	// https://api.leanplum.com/api?action=setUserAttributes&userId=u+42&userAttributes=Gold
	// webhook: invalid message "set-status": data[0].value: line 1 col 1: Leanplum's {{Device ID}} has no equivalent in this library
}
