package jinja

import (
	"strings"
	"testing"
)

// library is a Library held in a map, which counts the reads of each snippet.
type library struct {
	snippets map[string]string
	reads    map[string]int
}

func (l *library) Snippet(name string) (string, bool) {
	if l.reads == nil {
		l.reads = map[string]int{}
	}
	l.reads[name]++
	src, ok := l.snippets[name]
	return src, ok
}

func TestSnippetsRender(t *testing.T) {
	lib := &library{snippets: map[string]string{
		"footer": "-- {{ user.name }}",
		"crm":    "ignored text{% macro contact(kind) %}{{ kind }}:{{ user.id }}{% endmacro %}{% macro shout(s) %}{{ s | upper }}{% endmacro %}",
		"nested": "[{% include 'footer' %}]",
		"uses":   "{% from 'crm' import shout %}{{ shout('hi') }}",
	}}
	vars := mapVars{"user": map[string]any{"id": "u1", "name": "Mary"}}
	e := New(Options{})
	for _, tt := range []struct{ name, src, want string }{
		{"include", "Hello{% include 'footer' %}", "Hello-- Mary"},
		{"include twice, nested", "{% include 'nested' %}{% include 'nested' %}", "[-- Mary][-- Mary]"},
		{"import as", "{% import 'crm' as crm %}{{ crm.contact('email') }}", "email:u1"},
		{"from import", "{% from 'crm' import contact, shout as loud %}{{ contact('sms') }} {{ loud('x') }}", "sms:u1 X"},
		{"a snippet that imports", "{% include 'uses' %}", "HI"},
		{"in a loop", "{% for i in range(3) %}{% include 'footer' %};{% endfor %}", "-- Mary;-- Mary;-- Mary;"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, ps := e.CompileWith(tt.src, lib)
			if tmpl == nil {
				t.Fatalf("CompileWith(%q): %s", tt.src, strings.Join(ps, "; "))
			}
			got, err := tmpl.Render(NewScope(vars))
			if err != nil || got != tt.want {
				t.Errorf("Render(%q) = %q, %v, want %q", tt.src, got, err, tt.want)
			}
		})
	}
}

func TestSnippetsAreReadOncePerCompile(t *testing.T) {
	lib := &library{snippets: map[string]string{"a": "{% include 'b' %}{% include 'b' %}", "b": "x"}}
	if _, ps := New(Options{}).CompileWith("{% include 'a' %}{% include 'b' %}", lib); len(ps) > 0 {
		t.Fatal(ps)
	}
	if lib.reads["a"] != 1 || lib.reads["b"] != 1 {
		t.Errorf("snippets read %v times, want each once", lib.reads)
	}
}

func TestSnippetProblems(t *testing.T) {
	lib := &library{snippets: map[string]string{
		"self":   "{% include 'self' %}",
		"a":      "x{% include 'b' %}",
		"b":      "{% include 'c' %}",
		"c":      "{% include 'a' %}",
		"broken": "{{ x | uper }}",
		"crm":    "{% macro contact() %}{% endmacro %}",
	}}
	chain := map[string]string{}
	for i := range 12 {
		chain[string(rune('a'+i))] = "{% include '" + string(rune('a'+i+1)) + "' %}"
	}
	many := map[string]string{"all": ""}
	for i := range 70 {
		name := strings.Repeat("s", i+1)
		many[name] = ""
		many["all"] += "{% include '" + name + "' %}"
	}
	e := New(Options{})
	for _, tt := range []struct {
		name string
		lib  Library
		src  string
		want string
	}{
		{"missing", lib, "\n  {% include 'fotter' %}", "line 2 col 14: no snippet 'fotter'"},
		{"includes itself", lib, "{% include 'self' %}", "snippet 'self' loads itself: self → self"},
		{"a cycle", lib, "{% include 'a' %}", "snippet 'a' loads itself: a → b → c → a"},
		{"a problem in a snippet", lib, "{% include 'broken' %}", "line 1 col 12: in snippet 'broken': line 1 col 8: unknown filter 'uper'"},
		{"no such macro", lib, "{% from 'crm' import contact, address %}", "line 1 col 9: snippet 'crm' has no macro 'address'"},
		{"a name that is not a literal", lib, "{% include name %}", "must be named by a string literal"},
		{"import without as", lib, "{% import 'crm' %}", "expected 'as'"},
		{"ignore missing", lib, "{% include 'x' ignore missing %}", "unexpected 'ignore'"},
		{"too deep", &library{snippets: chain}, "{% include 'a' %}", "snippets load each other more than 10 deep"},
		{"too many", &library{snippets: many}, "{% include 'all' %}", "more than 64 snippets"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := e.CompileWith(tt.src, tt.lib)
			if got := strings.Join(ps, "; "); !strings.Contains(got, tt.want) {
				t.Errorf("CompileWith(%q) problems = %q, want one saying %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestSnippetsWithoutALibraryCheckSyntaxOnly(t *testing.T) {
	e := New(Options{})
	tmpl, ps := e.CompileWith("a{% include 'footer' %}", nil)
	if tmpl == nil {
		t.Fatalf("CompileWith with no library: %v", ps)
	}
	if _, err := tmpl.Render(NewScope(mapVars{})); err == nil || !strings.Contains(err.Error(), "snippet 'footer' was not loaded") {
		t.Errorf("Render of a snippet not loaded = %v, want an error saying so", err)
	}
	if _, ps := e.CompileWith("{% include %}", nil); len(ps) == 0 {
		t.Error("CompileWith of an include with no name compiled")
	}
}

func TestSnippetsShareTheRenderingsLimits(t *testing.T) {
	lib := &library{snippets: map[string]string{
		"loop":  "{% for i in range(10000) %}{% endfor %}",
		"twice": "{% include 'big' %}{% include 'big' %}",
		"big":   "{{ 'x' * 300000 }}",
	}}
	e := New(Options{})
	for _, tt := range []struct{ name, src, want string }{
		{"loops in all", "{% for i in range(11) %}{% include 'loop' %}{% endfor %}", "loops ran more than"},
		{"output", "{% include 'twice' %}{% include 'twice' %}", "output is larger than the limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, ps := e.CompileWith(tt.src, lib)
			if tmpl == nil {
				t.Fatalf("CompileWith(%q): %v", tt.src, ps)
			}
			_, err := tmpl.Render(NewScope(mapVars{}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render(%q) = %v, want an error saying %q", tt.src, err, tt.want)
			}
		})
	}
	src := "{% for i in range(100) %}{% for j in range(101) %}{% include 'empty' %}{% endfor %}{% endfor %}"
	tmpl, ps := e.CompileWith(src, &library{snippets: map[string]string{"empty": ""}})
	if tmpl == nil {
		t.Fatal(ps)
	}
	if _, err := tmpl.Render(NewScope(mapVars{})); err == nil || !strings.Contains(err.Error(), "called more than") {
		t.Errorf("Render of 10100 includes = %v, want the limit on calls", err)
	}
}
