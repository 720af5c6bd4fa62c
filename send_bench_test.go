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
	ctx := context.Background()
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID: "sent", URL: "https://example.com/hook",
		Data:     []webhook.Field{{Key: "enqueued_us", Value: "{{ parameter.enqueued_us | default(0) }}"}},
		Delivery: webhook.Delivery{Kind: webhook.Immediate},
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
		if _, err := s.Send(ctx, "sent", users[i], map[string]any{"enqueued_us": int64(i)}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
