package webhook_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		tb.Errorf("%s differs from %s (run go test -update to accept):\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

// formatRequest prints a request with its headers sorted, the webhook-id elided.
func formatRequest(r *webhook.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range r.Header[k] {
			if k == "Webhook-Id" {
				v = "(delivery ID)"
			}
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", r.Body)
	return b.String()
}

func TestRenderGolden(t *testing.T) {
	mary := webhook.User{
		ID: "u1", Email: "mary@example.com", TimeZone: "Europe/Berlin", Country: "DE",
		Attributes: map[string]any{"first_name": "Mary", "last_name": "Doe", "tier": "gold", "points": 1200, "vip": true,
			"tags": []string{"a", "b"}, "address": map[string]any{"city": "Berlin", "zip": "10115"}},
	}
	tests := []struct {
		name    string
		cfg     *webhook.Config
		user    webhook.User
		params  map[string]any
		message webhook.Message
	}{
		{
			name: "json",
			user: mary,
			message: webhook.Message{URL: "https://crm.example.com/hook", Data: []webhook.Field{
				{Key: "first_name", Value: "{{ userAttribute['first_name'] }}"},
				{Key: "last_name", Value: "{{ userAttribute['last_name'] }}"},
			}},
		},
		{
			name: "form",
			user: mary,
			message: webhook.Message{URL: "https://crm.example.com/hook", ContentType: webhook.Form, Data: []webhook.Field{
				{Key: "first_name", Value: "{{ userAttribute['first_name'] }}"},
				{Key: "last_name", Value: "{{ userAttribute['last_name'] }}"},
				{Key: "note & more", Value: "a=b&c d/é"},
			}},
		},
		{
			name:   "get_query",
			user:   mary,
			params: map[string]any{"q": "x y&z"},
			message: webhook.Message{Method: "get", URL: "https://api.example.com/lookup?appId=42", Data: []webhook.Field{
				{Key: "email", Value: "{{ user.email }}"},
				{Key: "q", Value: "{{ parameter['q'] }}"},
			}},
		},
		{
			name:    "escaping_path_and_query",
			user:    webhook.User{ID: "a/b c?d#e"},
			params:  map[string]any{"status": "Gold & Platinum", "evil": "x&admin=1#frag", "dots": ".."},
			message: webhook.Message{URL: "https://crm.example.com/users/{{ user.id }}/{{ parameter.dots }}/s?level={{ parameter['status'] }}&x={{ parameter.evil }}#{{ parameter.evil }}"},
		},
		{
			name:    "literal_text_left_alone",
			user:    mary,
			message: webhook.Message{URL: "https://crm.example.com/a%20b/c;v=1?x=%2F&y=a+b&z={{ userAttribute.tier }}"},
		},
		{
			name:    "host_from_attribute",
			user:    webhook.User{ID: "u1", Attributes: map[string]any{"tenant": "acme"}},
			message: webhook.Message{URL: "https://{{ userAttribute.tenant }}.example.com:8443/hook"},
		},
		{
			name:    "whole_url_from_attribute",
			user:    webhook.User{ID: "u1", Attributes: map[string]any{"callback": "https://hooks.example.com/cb?token=abc"}},
			message: webhook.Message{URL: "{{ userAttribute.callback }}&user={{ user.id }}"},
		},
		{
			name:   "json_types",
			user:   mary,
			params: map[string]any{"price": 9.5, "qty": 3.0, "items": []any{map[string]any{"sku": "A1", "n": 2}}, "none": nil},
			message: webhook.Message{URL: "https://crm.example.com/hook", Data: []webhook.Field{
				{Key: "points", Value: "{{ userAttribute.points }}"},
				{Key: "vip", Value: "{{ userAttribute.vip }}"},
				{Key: "tags", Value: "{{ userAttribute.tags }}"},
				{Key: "address", Value: "{{ userAttribute.address }}"},
				{Key: "price", Value: "{{ parameter.price }}"},
				{Key: "qty", Value: "{{ parameter.qty }}"},
				{Key: "items", Value: "{{ parameter['items'] }}"},
				{Key: "none", Value: "{{ parameter['none'] }}"},
				{Key: "computed", Value: "{{ userAttribute.points * 2 }}"},
				{Key: "literal_list", Value: "{{ [1, 'two', true] }}"},
				{Key: "text_with_number", Value: "points: {{ userAttribute.points }}"},
				{Key: "spaced", Value: " {{ userAttribute.points }}"},
				{Key: "html", Value: "<b>{{ userAttribute.first_name }} & co</b>"},
				{Key: "conditional", Value: "{{ 'yes' if userAttribute.vip else 'no' }}"},
			}},
		},
		{
			name: "fallbacks",
			user: webhook.User{ID: "u2"},
			message: webhook.Message{URL: "https://crm.example.com/hook?email={{ user.email | default('none') }}", Data: []webhook.Field{
				{Key: "first_name", Value: "{{ userAttribute['first_name'] | default('there') }}"},
				{Key: "greeting", Value: "Hi {{ userAttribute.first_name | default('friend') | upper }}!"},
			}},
		},
		{
			name: "missing_as_empty",
			cfg:  &webhook.Config{MissingAsEmpty: true},
			user: webhook.User{ID: "u2"},
			message: webhook.Message{URL: "https://crm.example.com/hook", ContentType: webhook.Form, Data: []webhook.Field{
				{Key: "first_name", Value: "{{ userAttribute['first_name'] }}"},
				{Key: "email", Value: "{{ user.email }}"},
			}},
		},
		{
			name: "basic_auth",
			user: mary,
			message: webhook.Message{URL: "https://api:p%40ss%3Aword@crm.example.com/hook", Headers: []webhook.Field{
				{Key: "X-Request-Source", Value: "hookline"},
			}},
		},
		{
			name: "headers",
			user: mary,
			message: webhook.Message{URL: "https://api:secret@crm.example.com/hook", Headers: []webhook.Field{
				{Key: "authorization", Value: "Bearer {{ userAttribute.tier }}-token"},
				{Key: "User-Agent", Value: "acme/2"},
				{Key: "X-Tier", Value: "{{ userAttribute.tier | upper }}"},
				{Key: "X-Multi", Value: "one"},
				{Key: "X-Multi", Value: "two"},
				{Key: "Content-Type", Value: "application/vnd.acme+json"},
			}},
		},
		{
			name:   "variables",
			user:   mary,
			params: map[string]any{"newStatus": "Gold"},
			message: webhook.Message{ID: "update-status", Name: "Update status", URL: "https://crm.example.com/hook",
				Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "updateStatus"},
				Data: []webhook.Field{
					{Key: "user", Value: "{{ user.id }} {{ user.email }} {{ user.timezone }} {{ user.country }} {{ user.test }}"},
					{Key: "event", Value: "{{ event.name }} {{ event.params.newStatus }}"},
					{Key: "message", Value: "{{ message.id }} {{ message.name }}"},
					{Key: "now", Value: "{{ now }}"},
				}},
		},
		{
			name:    "put_empty_data",
			user:    mary,
			message: webhook.Message{Method: "PUT", URL: "https://crm.example.com/hook"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newPreviewSender(t, tt.cfg, tt.user)
			m := tt.message
			if m.ID == "" {
				m.ID = "m"
			}
			req, err := s.Preview(context.Background(), &m, tt.user.ID, tt.params)
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			golden(t, "render/"+tt.name+".golden", formatRequest(req))
		})
	}
}

func newPreviewSender(tb testing.TB, cfg *webhook.Config, users ...webhook.User) *webhook.Sender {
	tb.Helper()
	c := webhook.Config{}
	if cfg != nil {
		c = *cfg
	}
	c.Clock = webhooktest.NewFakeClock(epoch)
	s, _ := webhooktest.NewSender(tb, memstore.New(), &c)
	for _, u := range users {
		if err := s.Identify(context.Background(), u); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func TestRenderErrors(t *testing.T) {
	user := webhook.User{ID: "u1", Attributes: map[string]any{"first_name": "Mary", "bio": "line one\nline two"}}
	tests := []struct {
		name    string
		message webhook.Message
		missing bool // the error wraps ErrMissingVariable
	}{
		{"missing_attribute", webhook.Message{URL: "https://x.example.com/", Data: []webhook.Field{{Key: "a", Value: "ok"}, {Key: "b", Value: "Hi {{ userAttribute['last_name'] }}"}}}, true},
		{"missing_name", webhook.Message{URL: "https://x.example.com/", Data: []webhook.Field{{Key: "a", Value: "{{ nothing }}"}}}, true},
		{"missing_user_field", webhook.Message{URL: "https://x.example.com/?e={{ user.email }}"}, true},
		{"missing_event", webhook.Message{URL: "https://x.example.com/", Data: []webhook.Field{{Key: "e", Value: "{{ event.name }}"}}}, true},
		{"missing_in_json_value", webhook.Message{URL: "https://x.example.com/", Data: []webhook.Field{{Key: "a", Value: "{{ parameter.total }}"}}}, true},
		{"header_line_break", webhook.Message{URL: "https://x.example.com/", Headers: []webhook.Field{{Key: "X-Bio", Value: "{{ userAttribute.bio }}"}}}, false},
		{"bad_rendered_scheme", webhook.Message{URL: "{{ 'ftp' }}://x.example.com/"}, false},
		{"host_injection", webhook.Message{URL: "https://{{ userAttribute.first_name ~ '@evil.example' }}/"}, false},
		{"range_too_long", webhook.Message{URL: "https://x.example.com/", Data: []webhook.Field{{Key: "a", Value: "{% for i in range(100000000) %}x{% endfor %}"}}}, false},
		{"output_too_large", webhook.Message{URL: "https://x.example.com/", Data: []webhook.Field{{Key: "a", Value: "{% for i in range(10000) %}{{ 'x' * 200 }}{% endfor %}"}}}, false},
		{"repeat_too_large", webhook.Message{URL: "https://x.example.com/", Data: []webhook.Field{{Key: "a", Value: "{{ 'abc' * 50000000 }}"}}}, false},
		{"body_too_large", webhook.Message{URL: "https://x.example.com/", Data: []webhook.Field{{Key: "a", Value: "{{ 'x' * 400000 }}"}, {Key: "b", Value: "{{ 'x' * 400000 }}"}, {Key: "c", Value: "{{ 'x' * 400000 }}"}}}, false},
	}
	s := newPreviewSender(t, nil, user)
	var all strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.message
			m.ID = "m"
			req, err := s.Preview(context.Background(), &m, "u1", nil)
			if err == nil {
				t.Fatalf("Preview = %s, want an error", formatRequest(req))
			}
			var re *webhook.RenderError
			if !errors.As(err, &re) {
				t.Fatalf("Preview error %v is a %T, want a *webhook.RenderError", err, err)
			}
			if got := errors.Is(err, webhook.ErrMissingVariable); got != tt.missing {
				t.Errorf("errors.Is(%v, ErrMissingVariable) = %v, want %v", err, got, tt.missing)
			}
			fmt.Fprintf(&all, "%s: %v\n", tt.name, err)
		})
	}
	golden(t, "render/errors.golden", all.String())
}

func TestValidate(t *testing.T) {
	m := webhook.Message{
		ID:     "bad id",
		Method: "TRACE",
		URL:    "ftp://user:hunter2@example.com/{% if x %}a{% endif %}",
		Headers: []webhook.Field{
			{Key: "X-Ok", Value: "fine"},
			{Key: "Bad Header", Value: "x"},
			{Key: "content-length", Value: "3"},
			{Key: "Webhook-Signature", Value: "v1,x"},
			{Key: "X-Split", Value: "a\r\nInjected: yes"},
		},
		Data: []webhook.Field{
			{Key: "a", Value: "{{ user.id }}"},
			{Key: "b", Value: "{{ user.id | uper }}"},
			{Key: "", Value: "{{ x "},
			{Key: "a", Value: "dup"},
			{Key: "inc", Value: "{% include '/etc/hostname' %}"},
			{Key: "imp", Value: "{% import 'macros.j2' as m %}"},
			{Key: "ext", Value: "{% extends 'base.j2' %}"},
			{Key: "frm", Value: "{% from 'x' import y %}"},
			{Key: "test", Value: "{% if user.id is frobnicated %}x{% endif %}"},
			{Key: "deep", Value: "{% if true %}{% for i in [1] %}{{ i | nosuchfilter }}{% endfor %}{% endif %}"},
		},
		Delivery: webhook.Delivery{Kind: webhook.Triggered},
	}
	err := m.Validate()
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, webhook.ErrInvalid) {
		t.Fatalf("Validate() = %v, want a *ValidationError wrapping ErrInvalid", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the validation error quotes the URL's password: %v", err)
	}
	var b strings.Builder
	for _, p := range ve.Problems {
		fmt.Fprintln(&b, p)
	}
	golden(t, "validate.golden", b.String())

	s := newPreviewSender(t, nil)
	if err := s.SaveMessage(context.Background(), &m); !errors.As(err, &ve) {
		t.Errorf("SaveMessage(invalid) = %v, want a *ValidationError", err)
	}
	if _, err := s.Send(context.Background(), "bad id", "u1", nil, nil); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Send of a message that failed validation = %v, want ErrNotFound", err)
	}
}

func TestValidateSingleProblems(t *testing.T) {
	for _, tt := range []struct {
		m    webhook.Message
		want string
	}{
		{webhook.Message{ID: "m", URL: "https://x.example.com/", ContentType: "text/plain"}, `content_type: "text/plain" is neither application/json nor application/x-www-form-urlencoded`},
		{webhook.Message{ID: "m"}, "url: required"},
		{webhook.Message{ID: "m", URL: "crm.example.com/hook"}, "url: must start with http:// or https://"},
		{webhook.Message{ID: "m", URL: "https://x.example.com/a b"}, "url: line 1 col 24: spaces and control characters must be percent-encoded"},
		{webhook.Message{ID: "m", URL: "https://x.example.com/", Delivery: webhook.Delivery{Kind: "weekly"}}, `delivery.kind: unknown kind "weekly"`},
		{webhook.Message{ID: "m", URL: "https://x.example.com/", Delivery: webhook.Delivery{Event: "e"}}, "delivery.event: only a triggered message has an event"},
		{webhook.Message{ID: strings.Repeat("x", 129), URL: "https://x.example.com/"}, "id: must be 1 to 128 letters, digits, '-', '_' or '.'"},
		{webhook.Message{ID: "m", URL: "https://x.example.com/", Data: []webhook.Field{{Key: "k", Value: strings.Repeat("x", 64<<10+1)}}}, "data[0].value: template is longer than 65536 bytes"},
		{webhook.Message{ID: "m", URL: "https://x.example.com/", Headers: manyFields("X-H", 1001)}, "headers: more than 1000 headers"},
		{webhook.Message{ID: "m", URL: "https://x.example.com/", Data: manyFields("k", 1001)}, "data: more than 1000 fields"},
	} {
		var ve *webhook.ValidationError
		if err := tt.m.Validate(); !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].String() != tt.want {
			t.Errorf("Validate() = %v, want the single problem %q", err, tt.want)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, m := range []webhook.Message{
		{ID: "a", URL: "http://example.com"},
		{ID: "A-b_c.9", URL: "https://example.com/{{ user.id }}", Method: "delete"},
		{ID: "dynamic", URL: "{{ userAttribute.callback }}"},
		{ID: "form-dup", URL: "https://example.com/", ContentType: webhook.Form, Data: []webhook.Field{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}},
		{ID: "get-dup", URL: "https://example.com/", Method: "GET", Data: []webhook.Field{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}},
	} {
		if err := m.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", m, err)
		}
	}
}

// manyFields returns n fields with distinct keys made from prefix.
func manyFields(prefix string, n int) []webhook.Field {
	fs := make([]webhook.Field, n)
	for i := range fs {
		fs[i] = webhook.Field{Key: fmt.Sprintf("%s%d", prefix, i), Value: "v"}
	}
	return fs
}
