package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// BenchmarkTrigger measures Sender.Trigger alone on memstore, with the bench program's
// Triggered message and a fresh user per event, and no worker sending what it enqueues.
func BenchmarkTrigger(b *testing.B) {
	ctx := context.Background()
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID: "triggered", URL: "https://example.com/hook",
		Data:     []webhook.Field{{Key: "enqueued_us", Value: "{{ parameter.enqueued_us | default(0) }}"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"},
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
	for i := range b.N {
		e := webhook.Event{UserID: users[i], Name: "e", Params: map[string]any{"enqueued_us": int64(i)}}
		if err := s.Trigger(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}
