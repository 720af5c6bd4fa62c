package jinja

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// readsString describes r as "name[key,key] other[*]", names sorted, * for a name read as a
// whole.
func readsString(r *Reads) string {
	if r == nil {
		return "anything"
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(r.names)) {
		keys, only := r.Keys(name)
		if !only {
			keys = []string{"*"}
		}
		out = append(out, name+"["+strings.Join(keys, ",")+"]")
	}
	return strings.Join(out, " ")
}

// TestReads checks what templates are found to read of their variables: every name, and a
// name's keys only when nothing else can reach the name's value.
func TestReads(t *testing.T) {
	lib := &library{snippets: map[string]string{
		"footer":  "-- {{ user.email }}",
		"crm":     "{% macro contact(kind) %}{{ kind }}:{{ userAttribute.phone }}{% endmacro %}",
		"nested":  "[{% include 'footer' %}]",
		"aliased": "{{ u.city }}",
		"plain":   "no variables",
	}}
	for _, tt := range []struct{ name, src, want string }{
		{"text", "plain text", ""},
		{"one key", "{{ user.id }}", "user[id]"},
		{"subscript key", "{{ user['id'] }}{{ user[\"email\"] }}", "user[email,id]"},
		{"keys of the key", "{{ parameter.a.b }}", "parameter[a]"},
		{"filter on a key", "{{ user.id | upper }}", "user[id]"},
		{"default", "{{ parameter.enqueued_us | default(0) }}", "parameter[enqueued_us]"},
		{"condition", "{{ parameter.n if parameter.n else 0 }}", "parameter[n]"},
		{"if block", "{% if user.test %}{{ now }}{% else %}{{ variant }}{% endif %}", "now[*] user[test] variant[*]"},
		{"method of a key", "{{ user.email.upper() }}", "user[email]"},
		{"test of a key", "{{ user.email is defined }}", "user[email]"},
		{"chained comparison", "{{ 1 < user.id < 3 }}", "user[id]"},
		{"whole", "{{ user }}", "user[*]"},
		{"filter on the whole", "{{ user | tojson }}", "user[*]"},
		{"attr filter", "{{ user | attr('email') }}", "user[*]"},
		{"method of the whole", "{{ user.get('email') }}", "user[*]"},
		{"method by subscript", "{{ user['get']('email') }}", "user[*]"},    // not callable in gonja 2.9
		{"method of a subscript", "{{ user['email'].upper() }}", "user[*]"}, // gonja's call holds user itself
		{"items", "{% for k, v in user.items() %}{{ v }}{% endfor %}", "user[*] v[*]"},
		{"loop over it", "{% for k in user %}{{ k }}{% endfor %}", "k[*] user[*]"},
		{"computed key", "{{ user[parameter.k] }}", "parameter[k] user[*]"},
		{"index", "{{ parameter.l.0 }}{{ user.0 }}", "parameter[l] user[*]"},
		{"slice", "{{ user[1:] }}", "user[*]"},
		{"set alias", "{% set u = user %}{{ u.email }}", "u[*] user[*]"}, // the target u is a name too
		{"with alias", "{% with u = user %}{{ u.email }}{% endwith %}", "u[email] user[*]"},
		{"shadowed", "{% set user = {'email': 'x'} %}{{ user.email }}", "user[*]"},
		{"assign into a key", "{% set parameter.a = 1 %}{{ parameter.a }}", "parameter[a]"},
		{"dict literal", "{{ {'u': user} }}", "user[*]"},
		{"macro argument", "{% macro m(u) %}{{ u.city }}{% endmacro %}{{ m(user) }}", "m[*] u[city] user[*]"},
		{"macro default", "{% macro m(u=user) %}{{ u }}{% endmacro %}{{ m() }}", "m[*] u[*] user[*]"},
		{"macro body", "{% macro m() %}{{ userAttribute.plan }}{% endmacro %}", "userAttribute[plan]"},
		{"call block", "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}{{ user.region }}{% endcall %}",
			"_hookline_caller[*] caller[*] m[*] user[region]"},
		{"namespace", "{% set ns = namespace(u=user) %}{{ ns.u.email }}", "namespace[*] ns[*] user[*]"},
		{"include", "{% include 'footer' %}", "user[email]"},
		{"include, nested", "{{ user.id }}{% include 'nested' %}", "user[email,id]"},
		{"import", "{% import 'crm' as crm %}{{ crm.contact('sms') }}", "crm[*] kind[*] userAttribute[phone]"}, // a method call
		{"from import", "{% from 'crm' import contact %}", "kind[*] userAttribute[phone]"},
		{"snippet reads a local", "{% set u = user %}{% include 'aliased' %}", "u[*] user[*]"},
		{"snippet without variables", "{% include 'plain' %}", ""},
	} {
		tmpl, ps := New(Options{}).CompileWith(tt.src, lib)
		if tmpl == nil {
			t.Fatalf("%s: CompileWith(%q): %v", tt.name, tt.src, ps)
		}
		if got := readsString(tmpl.Reads()); got != tt.want {
			t.Errorf("%s: CompileWith(%q).Reads() = %q, want %q", tt.name, tt.src, got, tt.want)
		}
	}
}

// A snippet that was not loaded (CompileWith with a nil Library) may read anything.
func TestReadsUnloadedSnippet(t *testing.T) {
	tmpl, ps := New(Options{}).CompileWith("{{ user.id }}{% include 'footer' %}", nil)
	if tmpl == nil {
		t.Fatal(ps)
	}
	if r := tmpl.Reads(); r != nil {
		t.Errorf("Reads() = %q, want anything", readsString(r))
	}
}

// TestReadsURL checks that the escaping CompileURL adds leaves what a URL reads alone.
func TestReadsURL(t *testing.T) {
	tmpl, ps := New(Options{}).CompileURL("https://example.com/{{ user.id }}?q={{ parameter.q | default('') }}")
	if tmpl == nil {
		t.Fatal(ps)
	}
	if got, want := readsString(tmpl.Reads()), "parameter[q] user[id]"; got != want {
		t.Errorf("Reads() = %q, want %q", got, want)
	}
}

func TestReadsUnion(t *testing.T) {
	e := New(Options{})
	a, _ := e.Compile("{{ user.id }}{{ parameter.a }}")
	b, _ := e.Compile("{{ user.email }}{{ parameter }}")
	if got, want := readsString(a.Reads().Union(b.Reads())), "parameter[*] user[email,id]"; got != want {
		t.Errorf("Union = %q, want %q", got, want)
	}
	if got := a.Reads().Union(nil); got != nil {
		t.Errorf("Union(nil) = %q, want anything", readsString(got))
	}
	var anything *Reads
	if !anything.Read("x") {
		t.Error("a nil *Reads does not read x, want it to read anything")
	}
	if _, only := anything.Keys("x"); only {
		t.Error("a nil *Reads reads x through keys only, want as a whole")
	}
}
