package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// BenchmarkSend measures Sender.Send alone on memstore, with the bench program's message,
// parameters and a fresh user per call, and no worker sending what it enqueues.
func BenchmarkSend(b *testing.B) {
	s, users := enqueueBench(b, webhook.Delivery{Kind: webhook.Immediate})
	ctx := context.Background()
	for i := range b.N {
		if _, err := s.Send(ctx, "m", users[i], map[string]any{"enqueued_us": int64(i)}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrigger measures Sender.Trigger alone on memstore, with the bench program's
// Triggered message and a fresh user per event, and no worker sending what it enqueues.
func BenchmarkTrigger(b *testing.B) {
	s, users := enqueueBench(b, webhook.Delivery{Kind: webhook.Triggered, Event: "e"})
	ctx := context.Background()
	for i := range b.N {
		e := webhook.Event{UserID: users[i], Name: "e", Params: map[string]any{"enqueued_us": int64(i)}}
		if err := s.Trigger(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// enqueueBench returns a Sender on memstore, not started, with the bench program's message
// saved as "m" with delivery d, and b.N user IDs; then it resets the benchmark's timer.
func enqueueBench(b *testing.B, d webhook.Delivery) (*webhook.Sender, []string) {
	b.Helper()
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	err = s.SaveMessage(context.Background(), &webhook.Message{
		ID: "m", URL: "https://example.com/hook",
		Data:     []webhook.Field{{Key: "enqueued_us", Value: "{{ parameter.enqueued_us | default(0) }}"}},
		Delivery: d,
	})
	if err != nil {
		b.Fatal(err)
	}
	users := make([]string, b.N)
	for i := range users {
		users[i] = fmt.Sprintf("user-%07d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	return s, users
}
