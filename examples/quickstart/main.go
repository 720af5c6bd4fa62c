// Command quickstart sends a personalized webhook through the in-memory store to a receiver
// it starts on loopback, which fails the first attempt with 503; the retry succeeds.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

func main() {
	ctx := context.Background()
	done := make(chan struct{})
	var failed atomic.Bool
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, _, _ := r.BasicAuth()
		fmt.Printf("receiver: %s %s as %q: %s\n", r.Method, r.URL.RequestURI(), user, body)
		if failed.CompareAndSwap(false, true) { // fail the first attempt
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		close(done)
	}))
	defer crm.Close()

	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		AllowNetworks: webhooktest.LoopbackNetworks(), // loopback is refused by default
		// Retry after half a second rather than the standard policy's minutes.
		RetryPolicy: webhook.DefaultRetryPolicy{InitialInterval: 500 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID:          "update-status",
		URL:         strings.Replace(crm.URL, "http://", "http://api:secret@", 1) + "/users/{{ user.id }}/status?level={{ parameter['newStatus'] }}",
		ContentType: webhook.Form,
		Data: []webhook.Field{
			{Key: "first_name", Value: "{{ userAttribute['first_name'] | default('there') }}"},
			{Key: "last_name", Value: "{{ userAttribute['last_name'] }}"},
		},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "updateStatus"},
	})
	if err != nil {
		log.Fatal(err)
	}
	err = s.Identify(ctx, webhook.User{ID: "u1", Attributes: map[string]any{"first_name": "Mary", "last_name": "Doe"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		log.Fatal(err)
	}

	// In your app, when the event happens:
	err = s.Trigger(ctx, webhook.Event{UserID: "u1", Name: "updateStatus", Params: map[string]any{"newStatus": "Gold & Platinum"}})
	if err != nil {
		log.Fatal(err)
	}

	<-done
	if err := s.Stop(ctx); err != nil { // waits until the last attempt is logged
		log.Fatal(err)
	}
	attempts, err := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "update-status"})
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range attempts { // newest first
		fmt.Printf("attempt %d: %d %s\n", a.Number, a.StatusCode, a.Outcome)
	}
}
