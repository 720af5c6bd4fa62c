package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// Send delivers a message to one user now and returns the job ID, which the receiver
// gets as the webhook-id header. A message with Secrets is signed, and the receiver checks
// the signature with Verify.
func ExampleSender_Send() {
	ctx := context.Background()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // in real use, webhook.NewSecret()
	got := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := webhook.Verify([]string{secret}, r.Header, body, time.Now(), 0)
		fmt.Printf("receiver: %s %s, signature error: %v\n", r.Method, body, err)
		got <- r.Header.Get("webhook-id")
	}))
	defer receiver.Close()

	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		AllowNetworks: webhooktest.LoopbackNetworks(), // the receiver is on loopback
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID:      "order-shipped",
		URL:     receiver.URL + "/hooks/orders",
		Data:    []webhook.Field{{Key: "order", Value: "{{ parameter.order }}"}, {Key: "user", Value: "{{ user.id }}"}},
		Secrets: []string{secret},
	})
	if err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}

	id, err := s.Send(ctx, "order-shipped", "u1", map[string]any{"order": 42}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("webhook-id is the job ID:", <-got == id)
	if err := s.Stop(ctx); err != nil { // waits until the attempt is logged
		panic(err)
	}
	attempts, _ := s.Attempts(ctx, webhook.AttemptQuery{JobID: id})
	for _, a := range attempts {
		fmt.Println("attempt", a.Number, a.StatusCode, a.Outcome, "signature logged as", a.RequestHeader.Get("webhook-signature"))
	}

	_, err = s.Send(ctx, "no-such-message", "u1", nil, nil)
	fmt.Println(errors.Is(err, webhook.ErrNotFound))
	// Output:
	// receiver: POST {"order":42,"user":"u1"}, signature error: <nil>
	// webhook-id is the job ID: true
	// attempt 1 200 succeeded signature logged as REDACTED
	// true
}

// The default HTTP client refuses private, loopback and other reserved addresses, after
// DNS resolution too; a job to one ends at once as a Blocked attempt. A Dialer keeps
// the same guard on an HTTP client of your own; AllowNetworks lets chosen ranges through.
func ExampleDialer() {
	ctx := context.Background()
	d := &webhook.Dialer{}
	_, err := d.DialContext(ctx, "tcp", "169.254.169.254:80") // a cloud metadata service
	var blocked *webhook.BlockedError
	if errors.As(err, &blocked) {
		fmt.Println("refused", blocked.Addr, "in", blocked.Range)
	}

	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	clock := webhooktest.NewFakeClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{Clock: clock, HTTPClient: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	_ = s.SaveMessage(ctx, &webhook.Message{ID: "internal", URL: "http://127.0.0.1:9/hook"})
	_ = s.Start(ctx)
	defer s.Stop(ctx)
	id, _ := s.Send(ctx, "internal", "u1", nil, nil)
	_ = clock.BlockUntil(ctx, 1) // the Sender is idle: the attempt is logged
	attempts, _ := s.Attempts(ctx, webhook.AttemptQuery{JobID: id})
	fmt.Println(attempts[0].Outcome, attempts[0].Err)
	// Output:
	// refused 169.254.169.254 in 169.254.0.0/16
	// blocked Post "http://127.0.0.1:9/hook": webhook: refused to connect to 127.0.0.1: 127.0.0.0/8 is a private or reserved range; add it to Config.AllowNetworks to allow it
}
