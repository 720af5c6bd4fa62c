package webhook_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hookline/webhook"
)

func TestTemplatesThatCannotBeMadeSafeAreRejected(t *testing.T) {
	for _, tt := range []struct{ name, tmpl, want string }{
		{"recursive macro", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "'macro' is not allowed: a macro that calls itself"},
		{"any macro", "{% macro hi(n) %}Hi {{ n }}{% endmacro %}{{ hi(user.id) }}", "'macro' is not allowed"},
		{"call block", "{% call f() %}x{% endcall %}", "'call' is not allowed: macros are not allowed"},
		{"self-rendering block", "{% block a %}{{ self.a() }}{% endblock %}", "'block' is not allowed"},
		{"recursive loop", "{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}", "recursive loops are not allowed"},
		// Found by FuzzTemplate: gonja's lexer loops for ever, allocating, on this input.
		{"invalid UTF-8", "{{\x8c0.行", "template is not valid UTF-8"},
		{"lexer trap", "{{\x000.行", "cannot be parsed safely"},
		{"lexer trap in a statement", "{% if 10.é %}x{% endif %}", "cannot be parsed safely"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &webhook.Message{ID: "m", URL: "https://example.com/", Data: []webhook.Field{{Key: "k", Value: tt.tmpl}}}
			err := m.Validate()
			var ve *webhook.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || ve.Problems[0].Path != "data[0].value" || !strings.Contains(ve.Problems[0].Message, tt.want) {
				t.Fatalf("Validate() = %v, want a problem at data[0].value saying %q", err, tt.want)
			}
		})
	}
}

func TestTemplateLimits(t *testing.T) {
	doubling := "{% set a = 'xxxxxxxxxxxxxxxx' %}" + strings.Repeat("{% set a = a ~ a %}", 40) + "{{ a | length }}"
	listDoubling := "{% set a = [1, 2, 3, 4] %}" + strings.Repeat("{% set a = a + a %}", 40) + "{{ a | length }}"
	for _, tt := range []struct{ name, tmpl, want string }{
		{"string repetition", "{{ 'abc' * 50000000 }}", "string repeated to more than 1048576 bytes"},
		{"repetition in text", "text {{ 'x' * 2000000 }}", "line 1: string repeated to more than"},
		{"doubling with ~", doubling, "operand of + or ~ is larger than 524288 bytes"},
		{"doubling a list with +", listDoubling, "operand of + or ~ is larger than 524288 bytes"},
		{"nested loops", "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "loops ran more than 100000 times in all"},
		{"nested loops over a list", "{% set l = range(10000) | list %}{% for i in l %}{% for j in l %}{% endfor %}{% endfor %}", "loops ran more than 100000 times"},
		{"center", "{{ 'x' | center(100000000) }}", "input and arguments could produce more than 16777216 bytes"},
		{"center method", "{{ 'x'.center(100000000) }}", "input and arguments could produce more than"},
		{"join with a long separator", "{{ range(10000) | join('y' * 100000) }}", "input and arguments could produce more than"},
		{"indent", "{{ ('a\\n' * 100000) | indent(1000) }}", "input and arguments could produce more than"},
		{"format width", "{{ '{:>999999999999}'.format(1) }}", "format width or precision larger than 1048576"},
		{"format precision", "{{ '{:.99999999}'.format(1.5) }}", "format width or precision larger than"},
		{"replace", "{% set a = 'a' * 100000 %}{{ a.replace('a', 'b' * 1000) }}", "input and arguments could produce more than"},
		{"work", "{% set s = 'x' * 1000000 %}{% for i in range(100) %}{{ s | length }}{% endfor %}", "template did more than 67108864 bytes of work"},
		{"in-place append", "{% set l = [] %}{{ l.append(l) }}", "unknown method 'append'"},
		{"in-place update", "{% set d = {} %}{{ d.update({'d': d}) }}", "unknown method 'update'"},
		{"private filter misuse", "{{ 3 | _repeat_count }}", "takes one argument"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newPreviewSender(t, nil)
			m := &webhook.Message{ID: "m", URL: "https://example.com/", Data: []webhook.Field{{Key: "k", Value: tt.tmpl}}}
			_, err := s.Preview(context.Background(), m, "u1", nil)
			var re *webhook.RenderError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Preview() = %v, want a *RenderError saying %q", err, tt.want)
			}
		})
	}
}

func TestTemplateLimitsKeepOrdinaryTemplatesWorking(t *testing.T) {
	s := newPreviewSender(t, nil, webhook.User{ID: "u1", Attributes: map[string]any{"name": "Ann", "tags": []any{"a", "b"}}})
	m := &webhook.Message{ID: "m", URL: "https://example.com/", Data: []webhook.Field{
		{Key: "repeat", Value: "{{ '-' * 3 }}{{ 'ab' * 0 }}{{ 'ab' * -2 }}"},
		{Key: "product", Value: "{{ 6 * 7 }}"},
		{Key: "float", Value: "{{ 1.5 * 2 }}"},
		{Key: "concat", Value: "{{ userAttribute.name ~ '!' }} {{ 'a' + 'b' }} {{ ([1] + [2]) | length }} {{ 1 + 2 }}"},
		{Key: "loop", Value: "{% for t in userAttribute.tags %}{{ loop.index }}{{ t }}{% endfor %}"},
		{Key: "filters", Value: "{{ userAttribute.tags | join(', ') | upper }} {{ 'x' | center(5) }}|{{ 'a b'.split(' ') | length }}"},
		{Key: "dict", Value: "{{ {'k': 1}.get('k') }} {{ {'k': 1}.keys() | list | length }}"},
		{Key: "missing", Value: "{{ userAttribute.nope | default('none') }}"},
		{Key: "text", Value: "v2.é {{ 'ok' }} 3.€"},
		{Key: "format", Value: "{{ '{:>5}|{:.2f}'.format('ab', 3.14159) }}"},
	}}
	req, err := s.Preview(context.Background(), m, "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"repeat":"---","product":42,"float":3,"concat":"Ann! ab 2 3","loop":"1a2b","filters":"A, B   x  |2","dict":"1 1","missing":"none","text":"v2.é ok 3.€","format":"   ab|3.14"}`
	if got := string(req.Body); got != want {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
}
