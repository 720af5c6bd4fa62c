package webhook_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// saveTemplate saves t, failing the test if it cannot.
func (h *harness) saveTemplate(tb testing.TB, t *webhook.Template) {
	tb.Helper()
	if err := h.sender.SaveTemplate(h.ctx, t); err != nil {
		tb.Fatal(err)
	}
}

func TestSnippetsRenderWithTheVersionsCurrentWhenEnqueued(t *testing.T) {
	// One Sender saves and enqueues; another, which compiled nothing, sends: it reads the
	// versions each job's message pins from the Store.
	store := memstore.New()
	saver, _ := webhooktest.NewSender(t, store, nil)
	sender, clock := webhooktest.NewSender(t, store, nil)
	recv := webhooktest.NewReceiver(t)
	ctx := t.Context()
	save := func(tmpl *webhook.Template) {
		t.Helper()
		if err := saver.SaveTemplate(ctx, tmpl); err != nil {
			t.Fatal(err)
		}
	}
	trigger := func(user string) {
		t.Helper()
		if err := saver.Trigger(ctx, webhook.Event{UserID: user, Name: "e"}); err != nil {
			t.Fatal(err)
		}
	}
	save(&webhook.Template{Kind: webhook.Snippet, Name: "sig", Source: "v1 {{ user.id }}"})
	save(&webhook.Template{Kind: webhook.Snippet, Name: "crm", Source: `{% macro contact(kind) %}{{ kind }}:{% include 'sig' %}{% endmacro %}`})
	m := &webhook.Message{
		ID: "m", URL: recv.URL,
		Data: []webhook.Field{
			{Key: "footer", Value: "{% include 'sig' %}"},
			{Key: "contact", Value: "{% from 'crm' import contact %}{{ contact('email') }}"},
		},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e", Delay: time.Minute},
	}
	if err := saver.SaveMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"sig": 1, "crm": 1}; !cmp.Equal(m.Snippets, want) {
		t.Errorf("SaveMessage set Snippets %v, want %v: every snippet it loads, directly or not", m.Snippets, want)
	}
	trigger("u1") // enqueued with version 1 of m, and so of sig

	save(&webhook.Template{Kind: webhook.Snippet, Name: "sig", Source: "v2 {{ user.id }}"})
	cur, err := saver.Message(ctx, "m", 0)
	if err != nil || cur.Version != 2 || cur.Snippets["sig"] != 2 || cur.Snippets["crm"] != 1 {
		t.Fatalf("the message after saving sig again = %+v, %v; want version 2 pinning sig 2 and crm 1", cur, err)
	}
	trigger("u2")
	webhooktest.Start(t, sender)
	clock.Advance(time.Minute)
	reqs, err := recv.Wait(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, r := range reqs {
		bodies = append(bodies, string(r.Body))
	}
	slices.Sort(bodies) // sent at the same time
	want := []string{`{"footer":"v1 u1","contact":"email:v1 u1"}`, `{"footer":"v2 u2","contact":"email:v2 u2"}`}
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
}

func TestSnippetProblemsAreRefusedWhenSaved(t *testing.T) {
	h := newHarness(t, nil)
	h.saveTemplate(t, &webhook.Template{Kind: webhook.Snippet, Name: "a", Source: "a"})
	h.saveTemplate(t, &webhook.Template{Kind: webhook.Snippet, Name: "b", Source: "{% include 'a' %}"})
	h.saveTemplate(t, &webhook.Template{Kind: webhook.Snippet, Name: "crm", Source: "{% macro contact() %}x{% endmacro %}"})
	h.save(t, &webhook.Message{ID: "m", URL: "https://example.com", Data: []webhook.Field{
		{Key: "b", Value: "{% include 'b' %}"}, {Key: "c", Value: "{% from 'crm' import contact %}{{ contact() }}"},
	}})

	err := h.sender.SaveMessage(h.ctx, &webhook.Message{ID: "n", URL: "https://example.com", Data: []webhook.Field{{Key: "x", Value: "{% include 'fotter' %}"}}})
	if diff := cmp.Diff([]string{"data[0].value: line 1 col 12: no snippet 'fotter'"}, problems(err)); diff != "" {
		t.Errorf("SaveMessage of a message that includes a missing snippet (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name string
		t    webhook.Template
		want []string
	}{
		{"a cycle through another", webhook.Template{Kind: webhook.Snippet, Name: "a", Source: "{% include 'b' %}"},
			[]string{"source: line 1 col 12: in snippet 'b': line 1 col 12: snippet 'a' loads itself: a → b → a"}},
		{"itself", webhook.Template{Kind: webhook.Snippet, Name: "c", Source: "x{% include 'c' %}"},
			[]string{"source: line 1 col 13: snippet 'c' loads itself: c → c"}},
		{"a macro a message uses is gone", webhook.Template{Kind: webhook.Snippet, Name: "crm", Source: "{% macro other() %}{% endmacro %}"},
			[]string{`message "m": data[1].value: line 1 col 9: snippet 'crm' has no macro 'contact'`}},
		{"bad syntax", webhook.Template{Kind: webhook.Snippet, Name: "d", Source: "{{ x | uper }}"},
			[]string{"source: line 1 col 8: unknown filter 'uper'"}},
		{"bad name and kind", webhook.Template{Kind: "partial", Name: "a b"},
			[]string{"name: must be 1 to 128 letters, digits, '-', '_' or '.'", `kind: "partial" is neither "webhook" nor "snippet"`}},
		{"a snippet with a URL", webhook.Template{Kind: webhook.Snippet, Name: "e", URL: "https://example.com"},
			[]string{"source: a snippet has only a source"}},
		{"a bad webhook template", webhook.Template{Kind: webhook.WebhookTemplate, Name: "w", Source: "x", URL: "ftp://x"},
			[]string{"source: only a snippet has a source", `url: scheme "ftp" is not http or https`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := h.sender.SaveTemplate(h.ctx, &tt.t)
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("SaveTemplate problems (-want +got):\n%s", diff)
			}
		})
	}
	if m, err := h.sender.Message(h.ctx, "m", 0); err != nil || m.Version != 1 {
		t.Errorf("the message after refused snippet saves = %+v, %v; want version 1 still", m, err)
	}
}

func TestWebhookTemplatesStartMessages(t *testing.T) {
	h := newHarness(t, nil)
	tmpl := &webhook.Template{
		Kind: webhook.WebhookTemplate, Name: "crm-update", Method: "PUT", ContentType: webhook.Form,
		URL:     "https://crm.example.com/users/{{ user.id }}",
		Headers: []webhook.Field{{Key: "Authorization", Value: "Bearer {{ parameter.token | default('none') }}"}},
		Data:    []webhook.Field{{Key: "status", Value: "{{ parameter.status }}"}},
	}
	h.saveTemplate(t, tmpl)
	again := *tmpl
	h.saveTemplate(t, &again)
	if tmpl.Version != 1 || again.Version != 1 {
		t.Errorf("saving the same template twice gave versions %d and %d, want 1: no new version", tmpl.Version, again.Version)
	}
	saved, err := h.sender.Template(h.ctx, webhook.WebhookTemplate, "crm-update", 0)
	if err != nil {
		t.Fatal(err)
	}
	m := saved.NewMessage("gold")
	m.Data = append(m.Data, webhook.Field{Key: "tier", Value: "gold"})
	h.save(t, m)
	got, err := h.sender.Message(h.ctx, "gold", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "PUT" || got.URL != tmpl.URL || len(got.Data) != 2 || got.Template == nil || *got.Template != (webhook.TemplateRef{Name: "crm-update", Version: 1}) {
		t.Errorf("a message from the template = %+v, want the template's fields and a reference to it", got)
	}
	list, err := h.sender.Templates(h.ctx, webhook.WebhookTemplate, "", 10)
	if err != nil || len(list) != 1 || list[0].Name != "crm-update" {
		t.Errorf("Templates = %v, %v, want crm-update", list, err)
	}
	if _, err := h.sender.Template(h.ctx, webhook.Snippet, "crm-update", 0); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Template of a snippet named as the webhook template = %v, want ErrNotFound", err)
	}
}

func TestTemplatesNeedATemplateStore(t *testing.T) {
	s, _ := webhooktest.NewSender(t, plainStore{memstore.New()}, nil)
	err := s.SaveTemplate(t.Context(), &webhook.Template{Kind: webhook.Snippet, Name: "a", Source: "a"})
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "webhook.TemplateStore") {
		t.Errorf("SaveTemplate on a Store without TemplateStore = %v, want errors.ErrUnsupported naming the role", err)
	}
	err = s.SaveMessage(t.Context(), &webhook.Message{ID: "m", URL: "https://example.com", Data: []webhook.Field{{Key: "a", Value: "{% include 'a' %}"}}})
	if diff := cmp.Diff([]string{"data[0].value: line 1 col 12: no snippet 'a'"}, problems(err)); diff != "" {
		t.Errorf("SaveMessage with an include on a Store without TemplateStore (-want +got):\n%s", diff)
	}
}
