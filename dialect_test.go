package webhook_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

func TestDialectsTranslateThePlatformsTokens(t *testing.T) {
	store := memstore.New()
	s, _ := webhooktest.NewSender(t, store, nil)
	err := s.UpdateUsers(t.Context(), []webhook.UserUpdate{{User: webhook.User{
		ID: "u 1", Email: "mary@example.com", Country: "FR", Region: "ARA", City: "Lyon", Locale: "fr-FR",
		CreatedAt: webhooktest.Epoch, Attributes: webhook.Map{"firstName": "Mary", "address": webhook.Map{"city": "Lyon"}, "first name": "M", "empty": ""},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"newStatus": "Gold & Platinum", "firstName": "Event Mary"}
	for _, tt := range []struct {
		dialect, tmpl, want string
	}{
		// Seed 001: "Be sure to use {{User ID}} and {{parameter['newStatus']}}".
		{"leanplum", "{{User ID}}/{{parameter['newStatus']}}", "u 1/Gold & Platinum"},
		{"leanplum", "{{ userId }} {{Message ID}} {{messageId}}", "u 1 m m"},
		{"leanplum", "{{country}} {{ region }} {{city}} {{locale}} {{firstRun}}", "FR ARA Lyon fr-FR 2030-01-07T09:00:00Z"},
		{"leanplum", "{{ userAttribute.firstName }} {{ userAttribute['first name'] }}", "Mary M"},
		{"leanplum", "{{ User ID | upper }}{%- if true %}!{% endif %}", "U 1!"},
		{"leanplum", "{% raw %}{{User ID}}{% endraw %}", "{{User ID}}"},
		{"iterable", "{{email}} {{userId}}", "mary@example.com u 1"},
		{"iterable", "{{firstName}} {{ parameter.firstName }}", "Mary Event Mary"},
		{"iterable", "{{address.city}} {{[first name]}} {{{address.city}}}", "Lyon M Lyon"},
		{"iterable", `{{defaultIfEmpty empty "friend"}} {{defaultIfEmpty missing 'you'}} {{upper address.city}}`, "friend you LYON"},
		{"iterable", "{{#if address}}has{{else}}none{{/if}} {{#unless missing}}no missing{{/unless}}", "has no missing"},
		{"iterable", "{{! a comment }}{{ user.id }} {{ parameter.newStatus | lower }}", "u 1 gold & platinum"},
	} {
		m := &webhook.Message{ID: "m", URL: "https://example.com", Dialect: tt.dialect, Data: []webhook.Field{{Key: "v", Value: tt.tmpl}}}
		req, err := s.Preview(t.Context(), m, "u 1", params)
		if err != nil {
			t.Errorf("Preview of %s %q: %v", tt.dialect, tt.tmpl, err)
			continue
		}
		if got := string(req.Body); got != `{"v":`+quote(tt.want)+`}` {
			t.Errorf("Preview of %s %q = %s, want %q", tt.dialect, tt.tmpl, got, tt.want)
		}
	}
	// The seed's URL, with its values escaped for their place in it.
	m := &webhook.Message{ID: "m", Dialect: "leanplum", URL: "https://api.example.com/set?userId={{User ID}}&status={{parameter['newStatus']}}"}
	req, err := s.Preview(t.Context(), m, "u 1", params)
	if err != nil || req.URL != "https://api.example.com/set?userId=u+1&status=Gold+%26+Platinum" {
		t.Errorf("Preview of the seed's URL = %v, %v", req, err)
	}
}

func TestDialectProblemsPointAtTheTextAsWritten(t *testing.T) {
	for _, tt := range []struct {
		dialect, tmpl string
		want          []string
	}{
		{"", "{{User ID}}", []string{"data[0].value: line 1 col 8: '}}' expected here"}},
		{"leanplum", "Hi\n  {{Device ID}} {{ Favourite Colour }}", []string{
			"data[0].value: line 2 col 3: Leanplum's {{Device ID}} has no equivalent in this library",
			"data[0].value: line 2 col 17: {{Favourite Colour}} is not a value of Leanplum's that the leanplum dialect knows",
		}},
		{"leanplum", "{{ appVersion }}", []string{"data[0].value: line 1 col 1: Leanplum's {{appVersion}} has no equivalent in this library"}},
		// A problem the sandbox finds after a token was translated is at its place as written.
		{"leanplum", "{{User ID}} and {{ x | uper }}", []string{"data[0].value: line 1 col 24: unknown filter 'uper'"}},
		{"leanplum", "{{User ID}}\n{{User ID}} {{ y | nope }}", []string{"data[0].value: line 2 col 20: unknown filter 'nope'"}},
		{"iterable", "{{#each items}}{{this}}{{/each}}", []string{
			"data[0].value: line 1 col 1: Iterable's block {{#each}} has no equivalent in the iterable dialect: use Jinja's {% if %} or {% for %}",
			"data[0].value: line 1 col 24: Iterable's block {{#each}} has no equivalent in the iterable dialect: use Jinja's {% if %} or {% for %}",
		}},
		{"iterable", "{{capitalize firstName}} {{defaultIfEmpty firstName}}", []string{
			`data[0].value: line 1 col 1: Iterable's helper "capitalize" has no equivalent in the iterable dialect`,
			"data[0].value: line 1 col 26: {{defaultIfEmpty}} takes a field and 1 more arguments",
		}},
		{"iterable", "{{#if a}}x", []string{"data[0].value: line 1 col 11: Unexpected EOF, expected tag elif or else or endif."}},
		{"handlebars", "x", []string{`dialect: "handlebars" is not a dialect: leanplum or iterable`}},
	} {
		m := webhook.Message{ID: "m", URL: "https://example.com", Dialect: tt.dialect, Data: []webhook.Field{{Key: "v", Value: tt.tmpl}}}
		if diff := cmp.Diff(tt.want, problems(m.Validate())); diff != "" {
			t.Errorf("Validate of %s %q (-want +got):\n%s", tt.dialect, tt.tmpl, diff)
		}
	}
}

// quote returns s as a JSON string, as the Sender encodes it.
func quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
