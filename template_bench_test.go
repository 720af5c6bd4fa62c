package webhook_test

import (
	"context"
	"testing"

	"github.com/hookline/webhook"
)

// BenchmarkPreviewTypical renders a typical message: the cost of the template limits shows
// against the same benchmark on a tree without them.
func BenchmarkPreviewTypical(b *testing.B) {
	s := newPreviewSender(b, nil, webhook.User{ID: "u1", Email: "ann@example.com", Attributes: map[string]any{"first_name": "Ann", "tags": []any{"a", "b", "c"}, "points": 1200}})
	m := &webhook.Message{ID: "m", URL: "https://api.example.com/users/{{ user.id }}?level={{ parameter.level | default('gold') }}", Data: []webhook.Field{
		{Key: "greeting", Value: "Hi {{ userAttribute.first_name | default('there') | title }}!"},
		{Key: "tags", Value: "{% for t in userAttribute.tags %}{{ t | upper }}{% if not loop.last %}, {% endif %}{% endfor %}"},
		{Key: "points", Value: "{{ userAttribute.points * 2 + 10 }}"},
		{Key: "email", Value: "{{ user.email ~ '' }}"},
	}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Preview(ctx, m, "u1", map[string]any{"level": "platinum"}); err != nil {
			b.Fatal(err)
		}
	}
}
