package storetest

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var templateRules = []rule{
	{"PutTemplateThenTemplatesByRefReturnsIt", testTemplateRoundTrip},
	{"PutTemplateNumbersVersionsFrom1PerKindAndName", testTemplateVersions},
	{"TemplatesByRefsAreThoseHeldInNameOrder", testTemplateRefs},
	{"TemplatesPagesCurrentVersionsOfAKindByName", testTemplatePaging},
}

// templateStore returns s as a TemplateStore, or skips the rule.
func templateStore(t *testing.T, s webhook.Store) webhook.TemplateStore {
	t.Helper()
	ts, ok := s.(webhook.TemplateStore)
	if !ok {
		t.Skipf("%T does not implement webhook.TemplateStore", s)
	}
	return ts
}

// putTemplates saves ts.
func putTemplates(t *testing.T, s webhook.TemplateStore, ts ...*webhook.Template) {
	t.Helper()
	for _, tmpl := range ts {
		must(t, "PutTemplate", s.PutTemplate(t.Context(), tmpl))
	}
}

// templates returns the templates q selects, as "name@version".
func templates(t *testing.T, s webhook.TemplateStore, q webhook.TemplateQuery) []string {
	t.Helper()
	ts, err := s.Templates(t.Context(), q)
	must(t, "Templates", err)
	out := make([]string, len(ts))
	for i, tmpl := range ts {
		out[i] = fmt.Sprintf("%s@%d", tmpl.Name, tmpl.Version)
	}
	return out
}

// snippet returns a snippet named name with source src.
func snippet(name, src string) *webhook.Template {
	return &webhook.Template{Kind: webhook.Snippet, Name: name, Source: src}
}

func testTemplateRoundTrip(t *testing.T, s webhook.Store) {
	ts := templateStore(t, s)
	hook := &webhook.Template{
		Kind: webhook.WebhookTemplate, Name: "crm", Method: "PUT", URL: "https://crm.example.com/{{ user.id }}",
		ContentType: webhook.Form, Headers: []webhook.Field{{Key: "X-B", Value: "2"}, {Key: "X-A", Value: "1"}},
		Data: []webhook.Field{{Key: "z", Value: "{{ 1 }}"}, {Key: "a", Value: "é"}}, Dialect: "iterable",
	}
	snip := snippet("crm", "{% macro contact() %}\u00e9\n{% endmacro %}")
	putTemplates(t, ts, hook, snip)
	if hook.Version != 1 || snip.Version != 1 {
		t.Errorf("PutTemplate of new templates set versions %d and %d, want 1 each", hook.Version, snip.Version)
	}
	for _, want := range []*webhook.Template{hook, snip} {
		got, err := ts.Templates(t.Context(), webhook.TemplateQuery{Kind: want.Kind, Refs: []webhook.TemplateRef{{Name: "crm"}}})
		must(t, "Templates", err)
		if diff := cmp.Diff([]*webhook.Template{want}, got, diffOpts...); diff != "" {
			t.Errorf("Templates of kind %s must return what PutTemplate saved (-saved +returned):\n%s", want.Kind, diff)
		}
	}
}

func testTemplateVersions(t *testing.T, s webhook.Store) {
	ts := templateStore(t, s)
	v1, v2 := snippet("a", "one"), snippet("a", "two")
	putTemplates(t, ts, v1, v2, snippet("b", "x"), &webhook.Template{Kind: webhook.WebhookTemplate, Name: "a"})
	if v1.Version != 1 || v2.Version != 2 {
		t.Errorf("PutTemplate of a name twice set versions %d and %d, want 1 and 2", v1.Version, v2.Version)
	}
	for _, tt := range []struct {
		ref  webhook.TemplateRef
		want string
	}{{webhook.TemplateRef{Name: "a"}, "two"}, {webhook.TemplateRef{Name: "a", Version: 1}, "one"}, {webhook.TemplateRef{Name: "a", Version: 2}, "two"}} {
		got, err := ts.Templates(t.Context(), webhook.TemplateQuery{Kind: webhook.Snippet, Refs: []webhook.TemplateRef{tt.ref}})
		must(t, "Templates", err)
		if len(got) != 1 || got[0].Source != tt.want {
			t.Errorf("Templates(%+v) = %+v, want the version whose source is %q", tt.ref, got, tt.want)
		}
	}
	if got := templates(t, ts, webhook.TemplateQuery{Kind: webhook.WebhookTemplate, Refs: []webhook.TemplateRef{{Name: "a"}}}); !cmp.Equal(got, []string{"a@1"}) {
		t.Errorf("Templates of the webhook template a = %v, want [a@1]: each kind numbers its own versions", got)
	}
}

func testTemplateRefs(t *testing.T, s webhook.Store) {
	ts := templateStore(t, s)
	putTemplates(t, ts, snippet("b", "1"), snippet("b", "2"), snippet("a", "1"), snippet("c", "1"))
	q := webhook.TemplateQuery{Kind: webhook.Snippet, Refs: []webhook.TemplateRef{
		{Name: "c"}, {Name: "b", Version: 2}, {Name: "b", Version: 1}, {Name: "a", Version: 7}, {Name: "nope"}, {Name: "c", Version: 1},
	}}
	if got, want := templates(t, ts, q), []string{"b@1", "b@2", "c@1"}; !cmp.Equal(got, want) {
		t.Errorf("Templates(%+v) = %v, want %v: those held, each once, in name and version order", q.Refs, got, want)
	}
	if got := templates(t, ts, webhook.TemplateQuery{Kind: webhook.WebhookTemplate, Refs: []webhook.TemplateRef{{Name: "a"}}}); len(got) != 0 {
		t.Errorf("Templates of a webhook template named as a snippet = %v, want none", got)
	}
}

func testTemplatePaging(t *testing.T, s webhook.Store) {
	ts := templateStore(t, s)
	putTemplates(t, ts, snippet("c", "1"), snippet("a", "1"), snippet("b", "1"), snippet("a", "2"),
		&webhook.Template{Kind: webhook.WebhookTemplate, Name: "aa"})
	for _, tt := range []struct {
		after string
		limit int
		want  []string
	}{{"", 2, []string{"a@2", "b@1"}}, {"b", 2, []string{"c@1"}}, {"c", 2, nil}, {"", 0, nil}} {
		got := templates(t, ts, webhook.TemplateQuery{Kind: webhook.Snippet, After: tt.after, Limit: tt.limit})
		if diff := cmp.Diff(tt.want, got, diffOpts...); diff != "" {
			t.Errorf("Templates(After: %q, Limit: %d) must page through the current snippets by name (-want +got):\n%s", tt.after, tt.limit, diff)
		}
	}
}
