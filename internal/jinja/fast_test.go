package jinja

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestSimpleParts checks which templates take the fast path.
func TestSimpleParts(t *testing.T) {
	e := New(Options{})
	for _, tt := range []struct {
		src    string
		simple bool
	}{
		{"", true},
		{"text {# comment #}", true},
		{"{{ user.id }}", true},
		{"a {{ p['a'].b }} b", true},
		{"  {{- p.s -}}  \n", true},
		{"{{ user.id | upper }}", false},
		{"{{ p.n | default(0) }}", true},
		{"{{ p.n | d('none') }}{{ p.s | default }}", true},
		{"{{ p.n | default(0, true) }}", false},
		{"{{ p.n | default(p.m) }}", false},
		{"{{ p.n | default(-1) }}", false},
		{"{{ p.n | default(0) | upper }}", false},
		{"{{ p.l[0] }}", false},
		{"{{ p.l.0 }}", false},
		{"{{ p[user.id] }}", false},
		{"{{ user.id if user.test }}", false},
		{"{{ user.id ~ 'x' }}", false},
		{"{% if user.test %}x{% endif %}", false},
		{"{{ 'text' }}", false},
	} {
		tmpl, ps := e.Compile(tt.src)
		if tmpl == nil {
			t.Fatalf("Compile(%q): %v", tt.src, ps)
		}
		if tmpl.simple != tt.simple {
			t.Errorf("Compile(%q).simple = %v, want %v", tt.src, tmpl.simple, tt.simple)
		}
	}
}

func TestPaths(t *testing.T) {
	tmpl, ps := New(Options{}).CompileURL("https://{{ host }}/{{ user.id }}?q={{ p['a'].b }}")
	if tmpl == nil {
		t.Fatal(ps)
	}
	var paths [][]string
	for _, p := range tmpl.parts {
		if p.path != nil {
			paths = append(paths, p.path)
		}
	}
	if got, want := fmt.Sprint(paths), "[[host] [user id] [p a b]]"; !tmpl.simple || got != want {
		t.Errorf("paths of the parts = %s, simple = %v; want %s, true", got, tmpl.simple, want)
	}
}

type errorValue struct{}

func (errorValue) Error() string { return "an error value" }

type stringer struct{}

func (stringer) String() string { return "from String" }

type panicker struct{}

func (panicker) String() string { panic("cannot format") }

// fastVars are variables of every type a simple template may look up.
func fastVars(v string, n float64) mapVars {
	return mapVars{
		"s": v, "n": n, "i": int(n), "i64": int64(-7), "u8": uint8(200), "f": 1.0, "big": 1e21,
		"tiny": 1e-7, "nan": math.NaN(), "inf": math.Inf(-1), "t": true, "b": false, "z": nil,
		"l":  []any{v, n, true, nil, []any{1, "x"}, map[string]any{"k": v}},
		"m":  map[string]any{"v": v, "n": n, "deep": map[string]any{"x": []any{"a"}}, "": "empty key"},
		"ss": []string{"a", v}, "time": time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), "num": json.Number("12.50"),
		"bytes": []byte("raw"), "err": errorValue{}, "str": stringer{}, "panic": panicker{},
	}
}

var fastTemplates = []string{
	"", "plain text", "{{ s }}", "a {{ s }} b", "{# comment #}{{ t }}", "{{ s }}|{{ n }}|{{ i }}",
	"{{ i64 }}", "{{ u8 }}", "{{ f }}", "{{ big }}", "{{ tiny }}", "{{ nan }}", "{{ inf }}", "{{ b }}",
	"{{ z }}", "{{ l }}", "{{ m }}", "{{ m.v }}", "{{ m['deep'].x }}", "{{ m[''] }}", "{{ ss }}",
	"{{ time }}", "{{ num }}", "{{ bytes }}", "{{ err }}", "{{ str }}", "{{ panic }}", "a{{ panic }}",
	"{{ missing }}", "{{ s.x }}", "{{ z.x }}", "{{ m.missing }}", "  {{- s -}}  \n", "line\n{{ s }}\n",
	"{{ s | default('x') }}", "{{ missing | default(0) }}", "{{ z | d('none') }}", "{{ m | default }}",
	"{{ l | default(100000000) }}", "{{ n | default(1.5) }}{{ s | d(true) }}", "{{ err | default(0) }}",
	"{{ panic | default(0) }}", "{{ bytes | default('') }}", "{{ m.missing | default(0) }}",
	"{{ m['missing'] | d('x') }}", "{{ m.deep.missing | default(1.5) }}{{ m.gone | d }}", "{{ m.keys | default(0) }}",
	"{{ m['items'] | default(0) }}", "{{ m.get | d(1) }}", "{{ m.copy | d(1) }}", "{{ m.values | d(1) }}",
	"{{ m.v.missing | default(0) }}", "{{ z.x | default(0) }}", "{{ missing.x | default(0) }}",
	"{{ s.upper | default(0) }}", "{{ m.missing | default(true) }}", "{{ m.x | default(100000000) }}",
	"{{ m['0'] | default('zero') }}", "{{ m.deep.x | default(0) }}", "{{ m.deep.x.missing | d(0) }}",
}

var fastURLs = []string{
	"https://example.com/{{ s }}", "https://{{ s }}.example.com/x",
	"https://example.com/a?q={{ s }}&n={{ n }}#{{ s }}", "{{ s }}", "https://example.com/{{ l }}/{{ m }}",
	"https://example.com/{{ missing }}", "https://example.com/{{ s | default('x') }}?n={{ missing | d(0) }}",
	"https://example.com/{{ m.missing | default('a b/c') }}?n={{ m.gone | d(0) }}",
}

// TestFastPathMatchesGonja checks that simple templates render through the fast path to
// exactly what gonja renders, for values of every type, with both settings of missing
// variables, and that values gonja treats differently (missing ones, errors, output over
// the size limit) are left to gonja.
func TestFastPathMatchesGonja(t *testing.T) {
	values := []struct {
		v string
		n float64
	}{{"Ann", 3}, {"a/b?c#d e&f=g%..", -1.5}, {"..", 1e300}, {"", 0}, {"é\x00'\"<>", 2.5e-5}}
	for _, o := range []Options{{}, {MissingAsEmpty: true}, {MaxSize: 8}} {
		fast := New(o)
		o.NoFastPath = true
		gonja := New(o)
		for _, val := range values {
			vs := fastVars(val.v, val.n)
			for _, src := range fastTemplates {
				checkFast(t, fast, gonja, src, false, vs)
			}
			for _, src := range fastURLs {
				checkFast(t, fast, gonja, src, true, vs)
			}
		}
	}
}

// checkFast compiles src with fast and gonja, renders it with vs, and fails if they differ
// or if src is not simple.
func checkFast(t *testing.T, fast, gonja *Env, src string, asURL bool, vs Vars) {
	t.Helper()
	compile := func(e *Env) *Template {
		c := e.Compile
		if asURL {
			c = e.CompileURL
		}
		tmpl, ps := c(src)
		if tmpl == nil {
			t.Fatalf("Compile(%q): %v", src, ps)
		}
		return tmpl
	}
	f, g := compile(fast), compile(gonja)
	if !f.simple {
		t.Errorf("Compile(%q) is not simple", src)
	}
	fs, gs := NewScope(vs), NewScope(vs)
	want, wantErr := g.Render(gs)
	if got, err := f.Render(fs); got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("Render(%q) = %q, %v; gonja renders %q, %v", src, got, err, want, wantErr)
	}
	wantV, wantErr := g.Value(gs)
	if got, err := f.Value(fs); fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", wantV) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("Value(%q) = %#v, %v; gonja evaluates %#v, %v", src, got, err, wantV, wantErr)
	}
	if fs.budget != gs.budget {
		t.Errorf("Render and Value of %q spent %+v of the budget; gonja spends %+v", src, fs.budget, gs.budget)
	}
}

func TestValue(t *testing.T) {
	e := New(Options{})
	vs := mapVars{"n": 1200, "l": []any{"a", 1}, "m": map[string]any{"k": true}}
	for _, tt := range []struct {
		src  string
		want string
	}{
		{"{{ n }}", "1200"},
		{"{{ n * 2 }}", "2400"},
		{"{{ l }}", `["a",1]`},
		{"{{ m }}", `{"k":true}`},
		{"{{ {'b': 1, 'a': [n, m.k]} }}", `{"b":1,"a":[1200,true]}`},
		{"{{ [1, 'two', true] }}", `[1,"two",true]`},
		{"{{ 'yes' if m.k else 'no' }}", `"yes"`},
		{"{{ 'yes' if not m.k }}", `""`},
		{"n = {{ n }}", `"n = 1200"`},
	} {
		tmpl, ps := e.Compile(tt.src)
		if tmpl == nil {
			t.Fatal(ps)
		}
		v, err := tmpl.Value(NewScope(vs))
		if err != nil {
			t.Errorf("Value(%q): %v", tt.src, err)
			continue
		}
		if got, err := json.Marshal(v); err != nil || string(got) != tt.want {
			t.Errorf("Value(%q) = %s, %v; want %s", tt.src, got, err, tt.want)
		}
	}
}

func TestMissingVariableErrors(t *testing.T) {
	errMissing := errors.New("custom missing")
	e := New(Options{Undefined: errMissing})
	vs := mapVars{"user": map[string]any{"id": "u1"}}
	for _, tt := range []struct{ src, want string }{
		{"{{ nothing }}", "line 1: custom missing nothing: give it a fallback with | default(...)"},
		{"a\n{{ user.email }}", "line 2: custom missing user.email: give it a fallback with | default(...)"},
		{"{{ user['email'] }}", "line 1: custom missing user['email']: give it a fallback with | default(...)"},
		{"{% if user.x %}{% endif %}", "line 1: custom missing user.x: give it a fallback with | default(...)"},
	} {
		for _, value := range []bool{false, true} {
			tmpl, ps := e.Compile(tt.src)
			if tmpl == nil {
				t.Fatal(ps)
			}
			var err error
			if value {
				_, err = tmpl.Value(NewScope(vs))
			} else {
				_, err = tmpl.Render(NewScope(vs))
			}
			if !errors.Is(err, errMissing) || err.Error() != tt.want {
				t.Errorf("rendering %q (value %v) = %v, want %q wrapping the Undefined error", tt.src, value, err, tt.want)
			}
		}
	}
	lenient := New(Options{MissingAsEmpty: true})
	if got, err := render(t, lenient, "[{{ nothing }}|{{ user.email }}]", vs); err != nil || got != "[|]" {
		t.Errorf("with MissingAsEmpty, Render = %q, %v; want [|]", got, err)
	}
}

// TestPositionsAfterMultilineTags checks that problems and errors name the template's lines
// when a tag spans several lines (the sandbox gives gonja those tags on one line).
func TestPositionsAfterMultilineTags(t *testing.T) {
	e := New(Options{})
	const multiline = "{{ (\n  'a'\n) }}\n"
	for _, tt := range []struct{ src, want string }{
		{multiline + "{{ 1 | nosuch }}", "line 4 col 8: unknown filter 'nosuch'"},
		{multiline + "{{ 'x' ~ }}", "line 4 col 10:"},
		{multiline + "{% for x in [1] recursive %}{% endfor %}", "line 4 col 29: recursive loops are not allowed"},
		{multiline + "{{ " + strings.Repeat("(", maxDepth+1) + " }}", "line 4 col 54: brackets nest more than 50 deep"},
	} {
		if got := compileProblem(e, tt.src); !strings.HasPrefix(got, tt.want) {
			t.Errorf("Compile(%q) problems = %q, want %q...", tt.src, got, tt.want)
		}
	}
	if _, err := render(t, e, multiline+"{{ nothing }}", mapVars{}); err == nil || !strings.HasPrefix(err.Error(), "line 4: missing variable nothing") {
		t.Errorf("Render = %v, want line 4: missing variable nothing", err)
	}
}

// TestLiteral checks which templates are only text, and that their text is what gonja
// renders.
func TestLiteral(t *testing.T) {
	gonja := New(Options{NoFastPath: true})
	for _, tt := range []struct {
		src  string
		want string
		ok   bool
	}{
		{"https://example.com/hook?a=1&b=%20", "https://example.com/hook?a=1&b=%20", true},
		{"", "", true},
		{"https://example.com/{# the path #}hook", "https://example.com/hook", true},
		{"https://example.com/{{ user.id }}", "", false},
		{"https://example.com/{{ 'hook' }}", "", false},
		{"https://{{ 'test.' if user.test }}example.com", "", false},
	} {
		for _, asURL := range []bool{false, true} {
			tmpl, ps := New(Options{}).Compile(tt.src)
			if asURL {
				tmpl, ps = New(Options{}).CompileURL(tt.src)
			}
			if tmpl == nil {
				t.Fatalf("Compile(%q): %v", tt.src, ps)
			}
			got, ok := tmpl.Literal()
			if got != tt.want || ok != tt.ok {
				t.Errorf("Literal() of %q = %q, %v, want %q, %v", tt.src, got, ok, tt.want, tt.ok)
			}
			if !ok {
				continue
			}
			g, _ := gonja.Compile(tt.src)
			if asURL {
				g, _ = gonja.CompileURL(tt.src)
			}
			if rendered, err := g.Render(NewScope(fastVars("Ann", 1))); rendered != got || err != nil {
				t.Errorf("Literal() of %q = %q; gonja renders %q, %v", tt.src, got, rendered, err)
			}
		}
	}
	long := strings.Repeat("x", 9)
	tmpl, _ := New(Options{MaxSize: 8}).Compile(long)
	if got, ok := tmpl.Literal(); ok {
		t.Errorf("Literal() of %q with MaxSize 8 = %q, true; want false (it fails to render)", long, got)
	}
}
