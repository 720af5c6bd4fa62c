package webhook

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/webhook/internal/jinja"
)

// simpleVars are variables of every type a simple template may look up.
func simpleVars(v string, n float64) *vars {
	params := Map{
		"s": v, "n": n, "i": int(n), "i64": int64(-7), "u8": uint8(200), "f": 1.0, "big": 1e21,
		"tiny": 1e-7, "nan": math.NaN(), "inf": math.Inf(-1), "t": true, "b": false, "z": nil,
		"l":  []any{v, n, true, nil, []any{1, "x"}, map[string]any{"k": v}},
		"m":  map[string]any{"v": v, "n": n, "deep": map[string]any{"x": []any{"a"}}, "": "empty key"},
		"nm": Map{"v": v}, "ss": []string{"a", v}, "time": fuzzNow, "num": json.Number("12.50"),
		"bytes": []byte("raw"), "err": errTestValue{}, "str": stringer{}, "panic": panicker{},
	}
	vs := fuzzVars(params)
	vs.user.Country = "FR"
	vs.user.CreatedAt = fuzzNow.Add(-time.Hour)
	vs.event = &Event{ID: "evt_1", Name: "signup", Time: fuzzNow}
	return vs
}

type errTestValue struct{}

func (errTestValue) Error() string { return "an error value" }

type stringer struct{}

func (stringer) String() string { return "from String" }

type panicker struct{}

func (panicker) String() string { panic("cannot format") }

// simpleTemplates are simple templates (see simpleParts): text and variable lookups.
var simpleTemplates = []string{
	"", "plain text", "{{ user.id }}", "a {{ user.id }} b", "{# comment #}{{ user.test }}",
	"{{ user.email }}|{{ user.country }}|{{ user.created_at }}", "{{ user.city }}", "{{ user.last_active }}",
	"{{ user.nope }}", "{{ user }}", "{{ message.id }}/{{ message.version }}/{{ message.name }}",
	"{{ now }}", "{{ event.id }} {{ event.name }} {{ event.time }} {{ event.params.s }}", "{{ event }}",
	"{{ parameter.s }}", "{{ parameter['s'] }}", "{{ parameter.n }}", "{{ parameter.i }}", "{{ parameter.i64 }}",
	"{{ parameter.u8 }}", "{{ parameter.f }}", "{{ parameter.big }}", "{{ parameter.tiny }}",
	"{{ parameter.nan }}", "{{ parameter.inf }}", "{{ parameter.t }}", "{{ parameter.b }}", "{{ parameter.z }}",
	"{{ parameter.l }}", "{{ parameter.m }}", "{{ parameter.m.v }}", "{{ parameter['m']['deep'].x }}",
	"{{ parameter.m[''] }}", "{{ parameter.nm }}", "{{ parameter.nm.v }}", "{{ parameter.ss }}",
	"{{ parameter.time }}", "{{ parameter.num }}", "{{ parameter.bytes }}", "{{ parameter.err }}",
	"{{ parameter.str }}", "{{ parameter.panic }}", "a{{ parameter.panic }}", "{{ parameter.missing }}", "{{ parameter.s.x }}", "{{ parameter.z.x }}",
	"{{ parameter }}", "{{ userAttribute.name }}", "{{ userAttribute.tags }}", "{{ userAttribute.n }}",
	"{{ userAttribute }}", "{{ now.x }}", "  {{- parameter.s -}}  \n", "line\n{{ parameter.s }}\n",
	"{{ parameter.s }}{{ parameter.n }}{{ parameter.t }}",
	"{{ parameter.s | default('x') }}", "{{ parameter.missing | default(0) }}", "{{ parameter.z | default('none') }}",
	"{{ parameter.m | d }}", "{{ parameter.l | default(100000000) }}", "{{ parameter.n | default(1.5) }}",
	"{{ user.email | default('') }}", "{{ user.city | d(true) }}", "a{{ parameter.s | default(1) }}b{{ parameter.n | default(2) }}",
	"{{ parameter.err | default(0) }}", "{{ parameter.panic | default(0) }}", "{{ parameter.nan | default(0) }}",
}

// simpleURLs are URL templates whose values are escaped for their positions.
var simpleURLs = []string{
	"https://example.com/{{ parameter.s }}", "https://{{ parameter.s }}.example.com/x",
	"https://example.com/a?q={{ parameter.s }}&n={{ parameter.n }}#{{ parameter.s }}",
	"{{ parameter.s }}", "https://example.com/{{ parameter.l }}/{{ parameter.m }}",
	"https://example.com/{{ user.nope }}", "https://example.com/{{ parameter.missing }}",
	"https://example.com/{{ parameter.s | default('x') }}?n={{ parameter.missing | default(0) }}&m={{ parameter.n | d(0) }}",
}

// enginePairs returns pairs of engines that render the fast path and gonja alone, with both settings of
// missing variables and with a tiny output limit.
func enginePairs() [][2]*engine {
	var pairs [][2]*engine
	for _, o := range []jinja.Options{{}, {MissingAsEmpty: true}, {MaxSize: 8}} {
		o.Undefined = ErrMissingVariable
		fast := &engine{env: jinja.New(o), maxSize: defaultMaxRenderSize}
		o.NoFastPath = true
		pairs = append(pairs, [2]*engine{fast, {env: jinja.New(o), maxSize: defaultMaxRenderSize}})
	}
	return pairs
}

// TestSimpleMatchesGonja checks that simple templates render, through the sandbox's fast
// path and vars.Lookup, to exactly what gonja renders with vars.Data, for values of every
// type, with both settings of missing variables, and that values gonja treats differently
// (missing ones, errors, output over the size limit) are left to gonja.
func TestSimpleMatchesGonja(t *testing.T) {
	values := []struct {
		v string
		n float64
	}{{"Ann", 3}, {"a/b?c#d e&f=g%..", -1.5}, {"..", 1e300}, {"", 0}, {"é\x00'\"<>", 2.5e-5}}
	for _, pair := range enginePairs() {
		for _, val := range values {
			vs := simpleVars(val.v, val.n)
			for _, src := range simpleTemplates {
				checkSimple(t, pair, src, false, vs)
			}
			for _, src := range simpleURLs {
				checkSimple(t, pair, src, true, vs)
			}
		}
	}
}

// checkSimple compiles src with both engines of pair, as a field or a URL, renders it with vs
// and fails if they differ. It returns false if src does not compile.
func checkSimple(t *testing.T, pair [2]*engine, src string, asURL bool, vs *vars) bool {
	t.Helper()
	var tmpls [2]*template
	for i, e := range pair {
		var ps problems
		if asURL {
			tmpls[i] = e.compileURL("url", src, nil, &ps)
		} else {
			tmpls[i] = e.compileTemplate("t", src, nil, &ps)
		}
		if tmpls[i] == nil {
			return false
		}
	}
	fast, gonja := pair[0], pair[1]
	want, wantErr := gonja.render(tmpls[1], jinja.NewScope(vs))
	if got, err := fast.render(tmpls[0], jinja.NewScope(vs)); got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("render(%q) = %q, %v; gonja renders %q, %v", src, got, err, want, wantErr)
	}
	wantV, wantErr := gonja.value(tmpls[1], jinja.NewScope(vs))
	if got, err := fast.value(tmpls[0], jinja.NewScope(vs)); fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", wantV) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("value(%q) = %#v, %v; gonja evaluates %#v, %v", src, got, err, wantV, wantErr)
	}
	return true
}

// readTemplates are templates that gonja renders, reading their variables in every way: keys,
// whole values, missing fields and records, and assignments seen through another name.
var readTemplates = []string{
	"{{ user.id | upper }}", "{{ user.email | default('none') }}", "{{ user.timezone | default('none') }}",
	"{{ user.region }}", "{{ user.nope | default('x') }}", "{{ user | tojson }}", "{{ user.get('email') }}",
	"{% for k in user | sort %}{{ k }},{% endfor %}", "{{ message.name ~ message.id }}", "{{ message | length }}",
	"{{ event.name | default('no event') }}", "{{ event.params.s | default('') }}", "{{ event | length }}",
	"{{ parameter.s | default('') }}{{ now | length }}", "{{ variant | default('control') }}",
	"{% set parameter.s = 'mine' %}{{ event.params.s }}", "{% set event.params.s = 'mine' %}{{ parameter.s }}",
	"{% set user.email = 'x' %}{{ user.email }}", "{{ userAttribute.name | lower }}",
	"{% set u = user %}{{ u.country }}", "{{ user['get']('email') }}", "{{ message['items']() | length }}", "{% if user.created_at %}{{ user.created_at[:4] }}{% endif %}",
}

// TestDataOfReadsRendersAsAll checks that templates render with the variables vars.Data
// builds for what they read exactly as with all of them, with and without an event and a
// variant.
func TestDataOfReadsRendersAsAll(t *testing.T) {
	gonja := enginePairs()[0][1]
	for _, withEvent := range []bool{false, true} {
		vs := simpleVars("Ann", 3)
		if !withEvent {
			vs.event = nil
		} else {
			vs.event.Params = vs.params
			vs.variant = "a"
		}
		for _, src := range slices.Concat(simpleTemplates, readTemplates) {
			var ps problems
			tmpl := gonja.compileTemplate("t", src, nil, &ps)
			if tmpl == nil {
				t.Fatalf("compile(%q): %v", src, ps.err("t"))
			}
			all, some := *vs, *vs
			all.reads, some.reads = nil, tmpl.t.Reads()
			want, wantErr := gonja.render(tmpl, jinja.NewScope(&all))
			if got, err := gonja.render(tmpl, jinja.NewScope(&some)); got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("with the variables it reads, render(%q) = %q, %v; with all of them %q, %v", src, got, err, want, wantErr)
			}
		}
	}
}

// FuzzSimpleTemplate checks that any template renders through the fast path to what gonja
// renders, as a field and as a URL, with values of every type.
func FuzzSimpleTemplate(f *testing.F) {
	pairs := enginePairs()[:2]
	f.Fuzz(func(t *testing.T, src, v string, n float64, asURL bool) {
		checkSimple(t, pairs[len(v)%2], src, asURL, simpleVars(v, n))
	})
}

// BenchmarkRequest renders the request of the message storetest.Bench delivers, whose
// templates are simple, through the fast path and with gonja rendering every template, as
// it did before simple templates were rendered without it.
func BenchmarkRequest(b *testing.B) {
	m := &Message{ID: "bench", URL: "http://127.0.0.1:8080/users/{{ user.id }}",
		Data: []Field{{Key: "user", Value: "{{ user.id }}"}, {Key: "n", Value: "{{ parameter.n }}"}}}
	vs := fuzzVars(Map{"n": 12345})
	pair := enginePairs()[0]
	for i, name := range []string{"simple", "gonja"} {
		e := pair[i]
		cm, err := e.compile(m, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.request(cm, vs, "dlv_1", defaultUserAgent); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestReadsUser checks which messages need the user loaded to render: those whose templates,
// or the snippets they load, may read more of it than user.id, in the library's names or a
// dialect's.
func TestReadsUser(t *testing.T) {
	e := newEngine(false)
	lib := pinnedSnippets{"footer": "{{ user.email }}", "id": "{{ user.id }}", "crm": "{% macro plan() %}{{ userAttribute.plan }}{% endmacro %}"}
	for _, tt := range []struct {
		dialect, url, header, data string
		want                       bool
	}{
		{"", "https://example.com/{{ user.id }}", "{{ message.id }}", "{{ parameter.n }} {{ now }} {{ event.name }} {{ variant | default('') }}", false},
		{"", "https://example.com/{{ user['id'] }}", "plain", "", false},
		{"", "https://example.com/", "", "{{ user.id | upper }}", false},
		{"", "https://example.com/", "", "{{ parameter.n if parameter.n else 0 }}", false},
		{"", "https://example.com/", "", "{{ parameter.enqueued_us | default(0) }}", false},
		{"", "https://example.com/", "", "{% for i in range(2) %}{{ user.id ~ i }}{% endfor %}{% set x = parameter %}{{ x }}", false},
		{"", "https://example.com/", "", "{% macro m(id) %}<{{ id }}>{% endmacro %}{{ m(user.id) }}", false},
		{"", "https://example.com/", "", "{% include 'id' %}", false},
		{"", "https://example.com/", "", "{{ user.email }}", true},
		{"", "https://example.com/", "{{ userAttribute.plan }}", "", true},
		{"", "https://example.com/", "", "{{ userAttribute }}", true},
		{"", "https://example.com/{{ user }}", "", "", true},
		{"", "https://example.com/", "", "{{ user.test }}", true},
		{"", "https://example.com/", "", "{{ user.id if user.country else '' }}", true},
		{"", "https://example.com/", "", "{{ user | tojson }}", true},
		{"", "https://example.com/", "", "{{ user.get('email') }}", true},
		{"", "https://example.com/", "", "{{ user[parameter.field] }}", true},
		{"", "https://example.com/", "", "{% set u = user %}{{ u.id }}", true},
		{"", "https://example.com/", "", "{% for k, v in user.items() %}{{ v }}{% endfor %}", true},
		{"", "https://example.com/", "", "{% macro m(u) %}{{ u.id }}{% endmacro %}{{ m(user) }}", true},
		{"", "https://example.com/", "", "{% include 'footer' %}", true},
		{"", "https://example.com/", "", "{% from 'crm' import plan %}", true},
		{"leanplum", "https://example.com/{{User ID}}", "", "{{ parameter.n }}", false},
		{"leanplum", "https://example.com/", "", "{{country}}", true},
		{"iterable", "https://example.com/{{userId}}", "", "", false},
		{"iterable", "https://example.com/", "", "{{email}}", true},
		{"iterable", "https://example.com/", "", "{{firstName}}", true},
		{"iterable", "https://example.com/", "", "{{#if vip}}v{{/if}}", true},
	} {
		m := &Message{ID: "m", Dialect: tt.dialect, URL: tt.url, Headers: []Field{{Key: "X-A", Value: tt.header}}, Data: []Field{{Key: "d", Value: tt.data}}}
		cm, err := e.compile(m, lib)
		if err != nil {
			t.Fatal(err)
		}
		if cm.readsUser != tt.want {
			t.Errorf("compile(%q: %q, %q, %q).readsUser = %v, want %v", tt.dialect, tt.url, tt.header, tt.data, cm.readsUser, tt.want)
		}
	}
}

// A variant reads the user when its own templates do, whether or not the message's do.
func TestVariantReadsUser(t *testing.T) {
	m := &Message{ID: "m", URL: "https://example.com/{{ user.id }}", Data: []Field{{Key: "d", Value: "{{ parameter.n }}"}},
		Variants: []Variant{{ID: "a", Weight: 1, Data: []Field{{Key: "d", Value: "{{ userAttribute.name }}"}}}, {ID: "b", Weight: 1}}}
	cm, err := newEngine(false).compile(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"": false, "a": true, "b": false} {
		if got := cm.forVariant(id).readsUser; got != want {
			t.Errorf("forVariant(%q).readsUser = %v, want %v", id, got, want)
		}
	}
}

// TestOptionalUserFields checks that each optional field of the user is a variable only when
// it is set, so that a template reading an empty one fails as a missing variable.
func TestOptionalUserFields(t *testing.T) {
	set := &vars{message: &Message{}, user: &User{ID: "u1", Email: "e@example.com", TimeZone: "Europe/Paris",
		Locale: "fr", Country: "FR", Region: "IDF", City: "Paris", CreatedAt: fuzzNow, LastActive: fuzzNow}}
	unset := &vars{message: &Message{}, user: &User{ID: "u1"}}
	for _, k := range []string{"email", "timezone", "locale", "country", "region", "city", "created_at", "last_active"} {
		if _, ok := set.field("user", k); !ok {
			t.Errorf("field(user, %s) of a user who has it reports it missing", k)
		}
		if x, ok := unset.field("user", k); ok {
			t.Errorf("field(user, %s) of a user without it = %v, want missing", k, x)
		}
	}
}

// TestTemplatesCannotChangeTheirVariables checks that a template that assigns into a
// variable ({% set parameter.m.x = 1 %}) changes only its own rendering's copy, not the
// job's parameters, event or user.
func TestTemplatesCannotChangeTheirVariables(t *testing.T) {
	fresh := func() Map { return Map{"m": map[string]any{"a": int64(1)}, "l": []any{map[string]any{"b": int64(2)}}} }
	vs := fuzzVars(fresh())
	vs.event = &Event{ID: "e1", Name: "signup", Params: vs.params}
	vs.user.Attributes = Map(fresh())
	e := newEngine(false)
	var ps problems
	src := "{% set parameter.z = 1 %}{% set parameter.m.z = 1 %}{% set event.params.m.y = 1 %}" +
		"{% set userAttribute.z = 1 %}{% set userAttribute.m.z = 1 %}{% set x = parameter.l[0] %}{% set x.z = 1 %}" +
		"{{ parameter.z }}{{ parameter.m.z }}{{ userAttribute.m.z }}"
	tmpl := e.compileTemplate("data[0].value", src, nil, &ps)
	if tmpl == nil {
		t.Fatal(ps.err("template"))
	}
	if got, err := e.render(tmpl, jinja.NewScope(vs)); err != nil || got != "111" {
		t.Fatalf("render(%q) = %q, %v; want the template to see its own assignments, 111", src, got, err)
	}
	if !reflect.DeepEqual(vs.params, fresh()) || !reflect.DeepEqual(vs.event.Params, fresh()) {
		t.Errorf("after render(%q), parameters = %v, event params = %v; want them unchanged, %v", src, vs.params, vs.event.Params, fresh())
	}
	if !reflect.DeepEqual(vs.user.Attributes, fresh()) {
		t.Errorf("after render(%q), user attributes = %v; want them unchanged, %v", src, vs.user.Attributes, fresh())
	}
}

// TestLaterFieldsSeeAssignments checks that a field rendered through the fast path sees what
// an earlier field of the same request assigned into a variable ({% set parameter.n = 5 %}),
// as gonja does: the fields of one request share their variables.
func TestLaterFieldsSeeAssignments(t *testing.T) {
	m := &Message{ID: "m", URL: "https://example.com/{{ parameter.n }}",
		Headers: []Field{{Key: "X-Set", Value: "{% set parameter.n = 5 %}{% set user.email = 'set' %}x"}},
		Data: []Field{{Key: "n", Value: "{{ parameter.n }}"}, {Key: "d", Value: "{{ parameter.n | default(0) }}"},
			{Key: "s", Value: "{{ parameter.n }}/{{ user.email | default('') }}"}}}
	for _, pair := range enginePairs()[:2] { // not the tiny output limit, which the URL passes
		var bodies [2]string
		for i, e := range pair {
			cm, err := e.compile(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			req, err := e.request(cm, fuzzVars(Map{"n": 7}), "j", defaultUserAgent)
			if err != nil {
				t.Fatal(err)
			}
			bodies[i] = req.URL + " " + string(req.Body)
		}
		if bodies[0] != bodies[1] {
			t.Errorf("with the fast path the request is %s; gonja alone renders %s", bodies[0], bodies[1])
		}
	}
}

// TestFixedURL checks that a URL template that is only text, parsed once when compiled, gives
// the request that rendering it on every send gives: the same URL, host and headers, with a
// GET's data added to its query.
func TestFixedURL(t *testing.T) {
	e := newEngine(false)
	for _, tt := range []struct {
		name, url, method string
		form              bool
	}{
		{"plain", "https://example.com/hook", "", false},
		{"port and case", "HTTP://Example.COM:80/A?b=1&c=%20#frag", "", false},
		{"user info", "https://ann:s3cret@example.com:8443/hook", "", false},
		{"get with data", "https://example.com/hook?a=1", "GET", false},
		{"form", "https://example.com/hook", "", true},
		{"invalid", "https://example.com/%zz", "", false}, // compiles, fails to parse: not fixed
	} {
		t.Run(tt.name, func(t *testing.T) {
			render := func(url string) (*Request, string, error) {
				m := &Message{ID: "m", URL: url, Method: tt.method, Data: []Field{{Key: "n", Value: "{{ parameter.n }}"}}}
				if tt.form {
					m.ContentType = Form
				}
				cm, err := e.compile(m, nil)
				if err != nil {
					return nil, "", err
				}
				_, _, perr := parseRenderedURL(url)
				if fixed := cm.url.fixed != nil; fixed != (perr == nil && !strings.Contains(url, "{{")) {
					t.Fatalf("compiled URL %q fixed = %v", url, fixed)
				}
				return e.requestTo(cm, fuzzVars(Map{"n": 12}), "job_1", defaultUserAgent)
			}
			got, gotHost, gotErr := render(tt.url)
			want, wantHost, wantErr := render(tt.url + "{{ '' }}") // the same URL, rendered
			if !reflect.DeepEqual(got, want) || gotHost != wantHost || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("request to %q = %+v, %q, %v; rendered, %+v, %q, %v", tt.url, got, gotHost, gotErr, want, wantHost, wantErr)
			}
		})
	}
}
