package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// A template variable the user or the event does not have makes the job fail for good,
// with a RenderError that names the template and the variable, unless the template gives a
// fallback with | default(...). Config.MissingAsEmpty renders missing variables as empty
// instead; in a JSON body, a Data value that is only the missing variable is null.
func ExampleRenderError() {
	ctx := context.Background()
	m := &webhook.Message{
		ID:  "greeting",
		URL: "https://crm.example.com/hooks/{{ user.id }}",
		Data: []webhook.Field{
			{Key: "first_name", Value: "{{ userAttribute.first_name }}"},
			{Key: "plan", Value: "{{ userAttribute.plan | default('free') }}"},
		},
	}
	for _, missingAsEmpty := range []bool{false, true} {
		s, err := webhook.NewSender(memstore.New(), &webhook.Config{
			MissingAsEmpty: missingAsEmpty,
			Logger:         slog.New(slog.DiscardHandler),
		})
		if err != nil {
			panic(err)
		}
		_ = s.Identify(ctx, webhook.User{ID: "u1"})
		req, err := s.Preview(ctx, m, "u1", nil)
		var re *webhook.RenderError
		if errors.As(err, &re) {
			fmt.Println(re.Path, "|", errors.Is(err, webhook.ErrMissingVariable), "|", err)
			continue
		}
		fmt.Println(string(req.Body))
	}
	// Output:
	// data[0].value | true | render data[0].value: line 1: missing variable userAttribute.first_name: give it a fallback with | default(...)
	// {"first_name":null,"plan":"free"}
}
