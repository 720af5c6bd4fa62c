package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// A Triggered message is sent when the app reports its event. The receiver here fails the
// first attempt with 503, so the job is retried a minute later on the fake clock.
func ExampleSender_Trigger() {
	ctx := context.Background()
	var mu sync.Mutex
	requests := 0
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		fmt.Printf("%s %s (auth %s:%s) %s\n", r.Method, r.URL.RequestURI(), user, pass, body)
		mu.Lock()
		defer mu.Unlock()
		if requests++; requests == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()

	clock := webhooktest.NewFakeClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		Clock:         clock,
		AllowNetworks: webhooktest.LoopbackNetworks(), // the receiver is on loopback
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID:          "update-status",
		URL:         strings.Replace(receiver.URL, "http://", "http://api:secret@", 1) + "/users/{{ user.id }}/status?level={{ parameter['newStatus'] }}",
		ContentType: webhook.Form,
		Data: []webhook.Field{
			{Key: "first_name", Value: "{{ userAttribute['first_name'] | default('there') }}"},
			{Key: "last_name", Value: "{{ userAttribute['last_name'] }}"},
		},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "updateStatus"},
	})
	if err != nil {
		panic(err)
	}
	_ = s.Identify(ctx, webhook.User{ID: "u1", Attributes: map[string]any{"first_name": "Mary", "last_name": "Doe"}})
	_ = s.Start(ctx)
	defer s.Stop(ctx)

	_ = s.Trigger(ctx, webhook.Event{UserID: "u1", Name: "updateStatus", Params: map[string]any{"newStatus": "Gold & Platinum"}})
	_ = clock.BlockUntil(ctx, 1) // the Sender is idle: the first attempt is logged
	clock.Advance(time.Minute)
	_ = clock.BlockUntil(ctx, 1)

	attempts, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "update-status"})
	for _, a := range attempts { // newest first
		fmt.Printf("attempt %d at %s: %d %s %s\n", a.Number, a.Time.Format("15:04"), a.StatusCode, a.Outcome, strings.TrimPrefix(a.URL, receiver.URL))
	}
	// Output:
	// POST /users/u1/status?level=Gold+%26+Platinum (auth api:secret) first_name=Mary&last_name=Doe
	// POST /users/u1/status?level=Gold+%26+Platinum (auth api:secret) first_name=Mary&last_name=Doe
	// attempt 2 at 09:01: 200 succeeded /users/u1/status?level=Gold+%26+Platinum
	// attempt 1 at 09:00: 503 retrying /users/u1/status?level=Gold+%26+Platinum
}

// Preview shows the exact request a message makes for a user, without sending or logging it.
// Values are escaped for their place in the URL, so a parameter cannot add a path segment or
// a query parameter, and a JSON value that is one expression keeps its type.
func ExampleSender_Preview() {
	ctx := context.Background()
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	_ = s.Identify(ctx, webhook.User{ID: "u/1", Email: "mary@example.com", Attributes: map[string]any{"points": 1200}})
	req, err := s.Preview(ctx, &webhook.Message{
		ID:  "preview",
		URL: "https://api:secret@crm.example.com/users/{{ user.id }}?ref={{ parameter.ref }}",
		Data: []webhook.Field{
			{Key: "email", Value: "{{ user.email }}"},
			{Key: "points", Value: "{{ userAttribute.points }}"},
			{Key: "greeting", Value: "Hi {{ userAttribute.name | default('there') }}"},
		},
	}, "u/1", map[string]any{"ref": "a&b=c"})
	if err != nil {
		panic(err)
	}
	shown := req.Redacted()
	fmt.Println(shown.Method, shown.URL)
	fmt.Println("Authorization:", shown.Header.Get("Authorization"))
	fmt.Println("Content-Type:", shown.Header.Get("Content-Type"))
	fmt.Println(string(shown.Body))
	// Output:
	// POST https://crm.example.com/users/u%2F1?ref=a%26b%3Dc
	// Authorization: REDACTED
	// Content-Type: application/json
	// {"email":"mary@example.com","points":1200,"greeting":"Hi there"}
}

// SaveMessage, like Validate, lists every problem in a message with the path of its field.
func ExampleMessage_Validate() {
	m := &webhook.Message{
		ID:      "welcome",
		URL:     "ftp://example.com/{{ user.id }}",
		Headers: []webhook.Field{{Key: "X-Tier", Value: "{{ userAttribute.tier | uper }}"}},
		Data:    []webhook.Field{{Key: "name", Value: "{% include 'secrets.txt' %}"}},
	}
	err := m.Validate()
	var ve *webhook.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p)
		}
	}
	fmt.Println(errors.Is(err, webhook.ErrInvalid))
	// Output:
	// url: scheme "ftp" is not http or https
	// headers[0].value: line 1 col 25: unknown filter 'uper'
	// data[0].value: line 1 col 12: 'include' is not allowed: templates cannot load other templates
	// true
}
