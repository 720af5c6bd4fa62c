// Command quickstart sends a personalized webhook through the in-memory store to a receiver it
// starts on loopback. The receiver fails the first attempt with 503, so the job is
// retried (after half a second, with a short retry policy) and then succeeds; the program
// prints what the receiver got and the attempt log.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A receiver standing in for a CRM: it fails once, then accepts.
	var received atomic.Int32
	done := make(chan struct{})
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, _, _ := r.BasicAuth()
		n := received.Add(1)
		fmt.Printf("receiver: %s %s as %q: %s\n", r.Method, r.URL.RequestURI(), user, body)
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		close(done)
	}))
	defer crm.Close()

	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		// Loopback is blocked by default; the receiver is on it.
		AllowNetworks: webhooktest.LoopbackNetworks(),
		// The standard policy waits 1, 2, 4, 8 and 16 minutes; this demo waits half a second.
		RetryPolicy: webhook.DefaultRetryPolicy{InitialInterval: 500 * time.Millisecond},
		Logger:      slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo})),
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
	if err := s.Identify(ctx, webhook.User{ID: "u1", Attributes: map[string]any{"first_name": "Mary", "last_name": "Doe"}}); err != nil {
		log.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		log.Fatal(err)
	}
	err = s.Trigger(ctx, webhook.Event{UserID: "u1", Name: "updateStatus", Params: map[string]any{"newStatus": "Gold & Platinum"}})
	if err != nil {
		log.Fatal(err)
	}

	select {
	case <-done:
	case <-ctx.Done():
		log.Fatal("the delivery did not succeed in time")
	}
	if err := s.Stop(ctx); err != nil { // waits until the last attempt is logged
		log.Fatal(err)
	}

	attempts, err := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "update-status"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("\nattempt log (newest first):")
	for _, a := range attempts {
		fmt.Printf("  #%d %s %s -> %d %s", a.Number, a.Method, a.URL, a.StatusCode, a.Outcome)
		if !a.NextAttemptAt.IsZero() {
			fmt.Printf(", next attempt in %v", a.NextAttemptAt.Sub(a.Time).Round(100*time.Millisecond))
		}
		fmt.Println()
	}
}
