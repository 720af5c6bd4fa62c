package jinja

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/nikolalohinski/gonja/v2/builtins"
)

func TestTemplatesThatCannotBeMadeSafeAreRefused(t *testing.T) {
	e := New(Options{})
	for _, tt := range []struct{ name, tmpl, want string }{
		{"self-rendering block", "{% block a %}{{ self.a() }}{% endblock %}", "'block' is not allowed"},
		{"recursive loop", "{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}", "recursive loops are not allowed"},
		{"include", "{% include '/etc/hostname' %}", "'include' is not allowed: templates cannot load other templates"},
		{"import", "{% import 'macros.j2' as m %}", "'import' is not allowed"},
		{"from", "{% from 'x' import y %}", "'from' is not allowed"},
		{"extends", "{% extends 'base.j2' %}", "'extends' is not allowed"},
		{"trans", "{% trans %}x{% endtrans %}", "'trans' is not allowed"},
		{"unknown filter", "{% if true %}{{ 1 | nosuchfilter }}{% endif %}", "line 1 col 21: unknown filter 'nosuchfilter'"},
		{"unknown test", "{{ 1 is frobnicated }}", "unknown test 'frobnicated'"},
		// Found by FuzzTemplate: gonja's lexer loops for ever, allocating, on these inputs.
		{"invalid UTF-8", "{{\x8c0.行", "template is not valid UTF-8"},
		{"lexer trap", "{{\x000.行", "cannot be parsed safely"},
		{"lexer trap in a statement", "{% if 10.é %}x{% endif %}", "cannot be parsed safely"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := compileProblem(e, tt.tmpl); !strings.Contains(got, tt.want) {
				t.Errorf("Compile(%q) problems = %q, want one saying %q", tt.tmpl, got, tt.want)
			}
		})
	}
}

func TestTemplateLimits(t *testing.T) {
	doubling := "{% set a = 'xxxxxxxxxxxxxxxx' %}" + strings.Repeat("{% set a = a ~ a %}", 40) + "{{ a | length }}"
	listDoubling := "{% set a = [1, 2, 3, 4] %}" + strings.Repeat("{% set a = a + a %}", 40) + "{{ a | length }}"
	e := New(Options{})
	for _, tt := range []struct{ name, tmpl, want string }{
		{"string repetition", "{{ 'abc' * 50000000 }}", "string repeated to more than 1048576 bytes"},
		{"repetition in text", "text {{ 'x' * 2000000 }}", "line 1: string repeated to more than"},
		{"doubling with ~", doubling, "operand of + or ~ is larger than 524288 bytes"},
		{"doubling a list with +", listDoubling, "operand of + or ~ is larger than 524288 bytes"},
		{"range", "{% for i in range(100000000) %}x{% endfor %}", "range() of more than 10000 items"},
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
		{"output", "{% for i in range(10000) %}{{ 'x' * 200 }}{% endfor %}", "output is larger than the limit (1048576 bytes)"},
		{"in-place append", "{% set l = [] %}{{ l.append(l) }}", "unknown method 'append'"},
		{"in-place update", "{% set d = {} %}{{ d.update({'d': d}) }}", "unknown method 'update'"},
		{"private filter misuse", "{{ 3 | _binop }}", "takes an operator and an operand"},
		{"budget replaced", "{% set _hookline_budget = 1 %}{{ 'a' ~ 'b' }}", "template cannot change _hookline_budget"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, e, tt.tmpl, mapVars{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render(%q) = %.40q, %v; want an error saying %q", tt.tmpl, got, err, tt.want)
			}
		})
	}
}

// TestMacroLimits checks that macros run with a bounded depth and a bounded number of calls:
// in gonja a macro that calls itself recurses until the Go stack overflows, which kills the
// process.
func TestMacroLimits(t *testing.T) {
	e := New(Options{})
	for _, tt := range []struct{ name, tmpl, want string }{
		{"calls itself", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "macros called each other more than 50 deep"},
		{"calls itself through another", "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}", "more than 50 deep"},
		{"calls itself through caller", "{% macro f() %}{{ caller() }}{% endmacro %}{% macro g() %}{% call f() %}{{ g() }}{% endcall %}{% endmacro %}{{ g() }}", "more than 50 deep"},
		{"calls itself twice", "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}", "macros were called more than 10000 times in all"},
		{"doubles its output", "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% else %}{{ 'x' * 100000 }}{% endif %}{% endmacro %}{{ f(12) | length }}", "template did more than 67108864 bytes of work"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, e, tt.tmpl, mapVars{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render(%q) = %.40q, %v; want an error saying %q", tt.tmpl, got, err, tt.want)
			}
		})
	}
	deep := "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ f(49) | length }}"
	if got, err := render(t, e, deep, mapVars{}); err != nil || got != "90" {
		t.Errorf("a macro 50 calls deep: Render = %q, %v; want 90", got, err)
	}
}

// TestBudgetIsShared checks that the templates of one Scope share one budget, and that a new
// Scope starts a new one.
func TestBudgetIsShared(t *testing.T) {
	e := New(Options{})
	tmpl, ps := e.Compile("{% for i in range(9999) %}{% endfor %}") // 10,000 with the loop's own
	if tmpl == nil {
		t.Fatal(ps)
	}
	s := NewScope(mapVars{})
	for i := range 10 {
		if _, err := tmpl.Render(s); err != nil {
			t.Fatalf("rendering %d of 10 with one Scope: %v", i+1, err)
		}
	}
	if _, err := tmpl.Render(s); err == nil || !strings.Contains(err.Error(), "loops ran more than") {
		t.Errorf("rendering 11 of 10 with one Scope = %v, want the loop limit", err)
	}
	if _, err := tmpl.Render(NewScope(mapVars{})); err != nil {
		t.Errorf("rendering with a new Scope: %v", err)
	}
}

func TestTemplateLimitsKeepOrdinaryTemplatesWorking(t *testing.T) {
	vs := mapVars{"user": map[string]any{"name": "Ann", "tags": []any{"a", "b"}}}
	e := New(Options{})
	for _, tt := range []struct{ tmpl, want string }{
		{"{{ '-' * 3 }}{{ 'ab' * 0 }}{{ 'ab' * -2 }}", "---"},
		{"{{ 6 * 7 }}", "42"},
		{"{{ user.name ~ '!' }} {{ 'a' + 'b' }} {{ ([1] + [2]) | length }} {{ 1 + 2 }}", "Ann! ab 2 3"},
		{"{% for t in user.tags %}{{ loop.index }}{{ t }}{% endfor %}", "1a2b"},
		{"{{ user.tags | join(', ') | upper }} {{ 'x' | center(5) }}|{{ 'a b'.split(' ') | length }}", "A, B   x  |2"},
		{"{{ {'k': 1}.get('k') }} {{ {'k': 1}.keys() | list | length }}", "1 1"},
		{"{{ user.nope | default('none') }}", "none"},
		{"v2.é {{ 'ok' }} 3.€", "v2.é ok 3.€"},
		{"{{ '{:>5}|{:.2f}'.format('ab', 3.14159) }}", "   ab|3.14"},
	} {
		if got, err := render(t, e, tt.tmpl, vs); err != nil || got != tt.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}
}

// TestNestingIsRefusedBeforeParsing checks that brackets and statements nested deeper than
// maxDepth are refused with the position of the first one too deep, and that gonja is
// not asked to parse them (it takes quadratic time).
func TestNestingIsRefusedBeforeParsing(t *testing.T) {
	deep, ok := maxDepth+1, maxDepth
	e := New(Options{})
	for _, tt := range []struct{ name, tmpl, want string }{
		{"parentheses", "{{ " + strings.Repeat("(", deep) + "1" + strings.Repeat(")", deep) + " }}", "line 1 col 54: brackets nest more than 50 deep"},
		{"brackets", "{{ x }}\n{{ " + strings.Repeat("[", deep) + strings.Repeat("]", deep) + " }}", "line 2 col 54: brackets nest more than 50 deep"},
		{"braces and parentheses", "{{ " + strings.Repeat("{'a': (", deep/2+1) + " }}", "brackets nest more than 50 deep"},
		{"40 KB of parentheses", "{{ " + strings.Repeat("(", 40<<10) + " }}", "brackets nest more than 50 deep"},
		{"if", strings.Repeat("{% if x %}", deep) + strings.Repeat("{% endif %}", deep), "line 1 col 504: statements nest more than 50 deep"},
		{"for and with", strings.Repeat("{%- for a in b -%}{% with %}", deep/2+1), "statements nest more than 50 deep"},
		{"block set", strings.Repeat("{% set x %}", deep), "statements nest more than 50 deep"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := compileProblem(e, tt.tmpl); !strings.Contains(got, tt.want) {
				t.Errorf("Compile(%.60q...) problems = %q, want %q", tt.tmpl, got, tt.want)
			}
		})
	}
	for _, tmpl := range []string{
		"{{ " + strings.Repeat("(", ok) + "1" + strings.Repeat(")", ok) + " }}",
		strings.Repeat("{% if true %}", ok) + "x" + strings.Repeat("{% endif %}", ok),
		strings.Repeat("{% set x = 1 %}{% if true %}{% endif %}", 3*maxDepth),
		strings.Repeat("{{ (((1))) }}", 3*maxDepth),
		"{% raw %}" + strings.Repeat("{% if %}((((", 2*maxDepth) + "{% endraw %}",
		"{# " + strings.Repeat("{% if %}((((", 2*maxDepth) + " #}",
		strings.Repeat("((((", 2*maxDepth),
	} {
		if p := compileProblem(e, tmpl); p != "" {
			t.Errorf("Compile(%.60q...) = %q, want no problem", tmpl, p)
		}
	}
}

// TestNodeTypesAreKnown fails when gonja declares a struct type in its syntax tree packages
// that the sandbox has not looked at: a new kind of node may need a limit (a loop, a
// recursion, an unbounded allocation) before templates may use it. Each new type goes in
// nodeTypes, with what the sandbox does with it, or in notInTrees below, with why.
func TestNodeTypesAreKnown(t *testing.T) {
	notInTrees := map[string]string{
		// Statements that are refused when parsed, so never in a tree.
		"controlstructures.BlockControlStructure":      "block is refused",
		"controlstructures.ExtendsControlStructure":    "extends is refused",
		"controlstructures.FromImportControlStructure": "from is refused",
		"controlstructures.ImportControlStructure":     "import is refused",
		"controlstructures.IncludeControlStructure":    "include is refused",
		"controlstructures.TransControlStructure":      "trans is refused",
		// Values made while rendering, not parsed.
		"controlstructures.BlockInfos":        "a block's rendering state",
		"controlstructures.LoopInfos":         "the loop variable",
		"controlstructures.loopCallable":      "the loop variable of a recursive loop",
		"controlstructures.LoopBreakError":    "the error {% break %} returns",
		"controlstructures.LoopContinueError": "the error {% continue %} returns",
		"tokens.Lexer":                        "the lexer",
		"tokens.Stream":                       "the lexer's output",
		"tokens.chanIterator":                 "the lexer's output",
		"tokens.sliceIterator":                "the lexer's output",
		"tokens.Position":                     "a position helper",
	}
	known := map[string]bool{}
	for typ := range nodeTypes {
		known[shortName(typ.PkgPath(), typ.Name())] = true
	}
	for _, pkg := range []string{"nodes", "builtins/control_structures", "tokens"} {
		for _, name := range structTypes(t, gonjaModule+pkg) {
			name = shortName(gonjaModule+pkg, name)
			if !known[name] && notInTrees[name] == "" {
				t.Errorf("gonja declares %s, which the template sandbox does not know: add it to nodeTypes in tree.go (after checking whether the limits must handle it) or to notInTrees here", name)
			}
		}
	}
}

// shortName names a gonja type as the package's name and the type's.
func shortName(pkgPath, name string) string {
	pkg := pkgPath[strings.LastIndex(pkgPath, "/")+1:]
	if pkg == "control_structures" {
		pkg = "controlstructures"
	}
	return pkg + "." + name
}

// structTypes returns the names of the struct types declared in the non-test Go files of
// the package at importPath, read from its source.
func structTypes(t *testing.T, importPath string) []string {
	t.Helper()
	p, err := build.Import(importPath, ".", build.FindOnly)
	if err != nil {
		t.Fatalf("finding the source of %s: %v", importPath, err)
	}
	fset := token.NewFileSet()
	var names []string
	files, err := os.ReadDir(p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, p.Dir+"/"+f.Name(), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if _, isStruct := ts.Type.(*ast.StructType); isStruct {
					names = append(names, ts.Name.Name)
				}
			}
			return true
		})
	}
	if len(names) == 0 {
		t.Fatalf("no struct types found in %s (%s)", importPath, p.Dir)
	}
	return names
}

// TestBuiltinsAreListed fails when gonja has a filter, test, statement or global the sandbox
// does not list, since such a one would reach templates unguarded or unnoticed.
func TestBuiltinsAreListed(t *testing.T) {
	check := func(what string, have, listed []string) {
		t.Helper()
		sort.Strings(have)
		for _, name := range have {
			if !slices.Contains(listed, name) {
				t.Errorf("gonja has the %s %q, which the sandbox does not list: add it to the lists in sandbox.go", what, name)
			}
		}
	}
	check("filter", setNames(t, builtins.Filters, "filters"), builtinFilters)
	check("test", setNames(t, builtins.Tests, "tests"), builtinTests)
	replaced := make([]string, 0, len(replacedStatements))
	for name := range replacedStatements {
		replaced = append(replaced, name)
	}
	check("statement", setNames(t, builtins.ControlStructures, "statements"), slices.Concat(allowedStatements, keys(refusedStatements), replaced))
	globals := slices.Concat(setNames(t, builtins.GlobalFunctions, "data"), setNames(t, builtins.GlobalVariables, "data"))
	check("global", globals, slices.Concat(builtinGlobals, keys(refusedGlobals), []string{"range"}))
}

// setNames returns the keys of the map in field of the gonja set that set points to.
func setNames(t *testing.T, set any, field string) []string {
	t.Helper()
	m := reflect.ValueOf(set).Elem().FieldByName(field)
	if m.Kind() != reflect.Map {
		t.Fatalf("%T has no map field %q: gonja changed; update this test", set, field)
	}
	var names []string
	for _, k := range m.MapKeys() {
		names = append(names, k.String())
	}
	return names
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestConcurrentRenders renders one compiled template from several goroutines at once: a
// Template is safe for concurrent use (run with -race).
func TestConcurrentRenders(t *testing.T) {
	src := "{% macro li(x) %}<li>{{ caller() }}{{ x }}</li>{% endmacro %}" +
		"{% for i in items %}{% call li(loop.index) %}{{ i | upper }}{% endcall %}{% endfor %}" +
		"{{ '%05.1f' % n }} {{ (items | join(',')).split(',') | length }} {{ {'a': n}['a'] ** 2 }}"
	tmpl, ps := New(Options{}).Compile(src)
	if tmpl == nil {
		t.Fatal(ps)
	}
	vs := mapVars{"items": []any{"a", "b"}, "n": 2.5}
	const want = "<li>A1</li><li>B2</li>002.5 2 6.25"
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if got, err := tmpl.Render(NewScope(vs)); err != nil || got != want {
					t.Errorf("Render = %q, %v; want %q", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
