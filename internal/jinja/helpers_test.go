package jinja

import (
	"strings"
	"testing"
)

// mapVars are variables held in a map, looked up through nested map[string]any.
type mapVars map[string]any

func (m mapVars) Lookup(path []string) (any, bool) {
	var x any = map[string]any(m)
	for _, k := range path {
		inner, ok := x.(map[string]any)
		if !ok {
			return nil, false
		}
		if x, ok = inner[k]; !ok {
			return nil, false
		}
	}
	return x, true
}

func (m mapVars) Data() map[string]any {
	return copyValue(map[string]any(m)).(map[string]any)
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// render compiles src with e and renders it with vs, failing the test if it does not
// compile.
func render(tb testing.TB, e *Env, src string, vs Vars) (string, error) {
	tb.Helper()
	t, ps := e.Compile(src)
	if t == nil {
		tb.Fatalf("Compile(%q): %s", src, strings.Join(ps, "; "))
	}
	return t.Render(NewScope(vs))
}

// compileProblem compiles src with e and returns its problems joined, or "" if it compiles.
func compileProblem(e *Env, src string) string {
	_, ps := e.Compile(src)
	return strings.Join(ps, "; ")
}
