package jinja

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
)

// Most templates are plain text with a few variables ("{{ user.id }}",
// "{{ parameter['plan'] }}", "{{ parameter.n | default(0) }}"). Such a simple template is
// rendered here, without gonja, to the same bytes: the text is what gonja writes for each
// text node, and each variable is looked up with Vars.Lookup, which finds what gonja finds in
// Vars.Data, then formatted by gonja's own Value.String. A variable that is there and not
// None is what | default(...) gives, and the fast path charges the rendering's budget what
// the sandbox's guard of that filter charges. Whenever a variable is missing or None, a
// limit would be passed or the output is too large, gonja renders the template instead, so
// missing variables and errors behave exactly as before.

// part is one piece of a simple template: literal text, or the variable at path, escaped
// for its position in a URL when escape is set.
type part struct {
	text   string
	path   []string // nil for literal text
	escape func(string) string
	// defaulted is set when the variable is printed through | default(...) with literal
	// arguments, whose size as checkCall counts it is defaultArgs; fallback is what the
	// filter gives for a missing variable: its argument, or "" without one.
	defaulted   bool
	defaultArgs int
	fallback    any
}

// simpleParts returns the parts of a template made only of text, comments and variable
// lookups (each with at most a | default(...) of literal arguments and one of the URL
// escaping filters CompileURL adds), and whether it is one.
func simpleParts(root *nodes.Template) ([]part, bool) {
	parts := make([]part, 0, len(root.Nodes))
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case *nodes.Comment:
		case *nodes.Data:
			var b strings.Builder
			if _, err := (&exec.Renderer{Output: &b}).Visit(n); err != nil {
				return nil, false
			}
			parts = append(parts, part{text: b.String()})
		case *nodes.Output:
			if n.Condition != nil || n.Alternative != nil {
				return nil, false
			}
			p, ok := simpleOutput(n.Expression)
			if !ok {
				return nil, false
			}
			parts = append(parts, p)
		default:
			return nil, false
		}
	}
	return parts, true
}

// simpleOutput returns the part of a {{ expression }} that prints a variable lookup, possibly
// through one URL escaping filter.
func simpleOutput(expr nodes.Expression) (part, bool) {
	var p part
	if f, ok := expr.(*nodes.FilteredExpression); ok && len(f.Filters) == 1 && urlEscapes[f.Filters[0].Name] != nil {
		p.escape = urlEscapes[f.Filters[0].Name]
		expr = f.Expression
	}
	inner := printed(expr)
	if inner == expr {
		return p, false
	}
	inner, p.fallback, p.defaultArgs, p.defaulted = withoutDefault(inner)
	p.path = lookupPath(inner)
	return p, len(p.path) > 0
}

// withoutDefault returns what expr filters through | default(...) or | d(...), with at
// most one argument, a literal string, number or boolean; what the filter gives for a
// missing variable; and the size of the arguments as checkCall counts them. It returns expr
// and false when expr is anything else.
func withoutDefault(expr nodes.Expression) (nodes.Expression, any, int, bool) {
	f, ok := expr.(*nodes.FilteredExpression)
	if !ok || len(f.Filters) != 1 {
		return expr, nil, 0, false
	}
	c := f.Filters[0]
	if c.Name != "default" && c.Name != "d" || len(c.Args) > 1 || len(c.Kwargs) > 0 {
		return expr, nil, 0, false
	}
	var fallback any = ""
	args := &exec.VarArgs{}
	for _, a := range c.Args {
		var v any
		switch a := a.(type) {
		case *nodes.String:
			v = a.Val
		case *nodes.Integer:
			v = a.Val
		case *nodes.Float:
			v = a.Val
		case *nodes.Bool:
			v = a.Val
		default:
			return expr, nil, 0, false
		}
		fallback = v
		args.Args = append(args.Args, exec.AsValue(v))
	}
	return f.Expression, fallback, argsSize(args), true
}

// lookupPath returns the names of a variable lookup such as a.b['c'], or nil if expr is
// anything else.
func lookupPath(expr nodes.Node) []string {
	switch n := expr.(type) {
	case *nodes.Name:
		return []string{n.Name.Val}
	case *nodes.GetAttribute:
		if n.Attribute == "" { // a.0
			return nil
		}
		if p := lookupPath(n.Node); p != nil {
			return append(p, n.Attribute)
		}
	case *nodes.GetItem:
		if k, ok := n.Arg.(*nodes.String); ok {
			if p := lookupPath(subscriptTarget(n)); p != nil {
				return append(p, k.Val)
			}
		}
	}
	return nil
}

// lookup returns the value at path with v, and whether the fast path can use it: a value
// gonja would take for an error is left to gonja.
func lookup(v Vars, path []string) (any, bool) {
	x, ok := v.Lookup(path)
	switch x.(type) {
	case error, *exec.Value, reflect.Value, *reflect.Value:
		return nil, false
	}
	return x, ok
}

// lookup returns the value at path for a simple template rendered with s, and whether the
// fast path can use it (see lookup). Once gonja has rendered a template with s, the value is
// read from the variables gonja rendered with, which that template may have assigned into
// ({% set parameter.n = 5 %}): the templates of one Scope share them.
func (s *Scope) lookup(path []string) (any, bool) {
	x, ok := lookup(s.vars, path)
	if !ok || s.ctx == nil {
		return x, ok
	}
	x, ok = s.ctx.Get(path[0])
	for _, k := range path[1:] {
		m, isMap := x.(map[string]any)
		if !ok || !isMap {
			return nil, false
		}
		x, ok = m[k]
	}
	switch x.(type) {
	case error, *exec.Value, reflect.Value, *reflect.Value:
		return nil, false
	}
	return x, ok
}

// renderFast renders a simple template with the variables of s. It reports false if a
// variable is missing or None where it has a default, a limit would be passed, the output
// would be longer than max or formatting a value panics: gonja renders the template then,
// and fails as it does. Only a rendering that succeeds charges s's budget.
func (t *Template) renderFast(s *Scope) (out string, ok bool) {
	max := t.env.maxSize
	defer func() {
		if recover() != nil {
			out, ok = "", false
		}
	}()
	if len(t.parts) == 1 { // most templates: no need to join
		out, work, ok := t.parts[0].render(s, t.env.missingAsEmpty, max)
		return out, ok && len(out) <= max && s.budget.charge(work)
	}
	var b strings.Builder
	work := 0
	for _, p := range t.parts {
		out, n, ok := p.render(s, t.env.missingAsEmpty, max)
		if !ok || b.Len()+len(out) > max {
			return "", false
		}
		b.WriteString(out)
		work += n
	}
	return b.String(), s.budget.charge(work)
}

// charge spends n bytes of work if the budget has them, and reports whether it had.
func (b *budget) charge(n int) bool {
	if n == 0 {
		return true
	}
	if b.work+n > maxWork {
		return false
	}
	b.work += n
	return true
}

// value returns the value of the part's variable with s, the work gonja charges the
// rendering's budget for it, and whether the fast path can use it: false for a missing
// variable, a value gonja would take for an error, and where the variable has a default, for
// None or a value guardFilter refuses. A variable with a default that is a missing key of a
// dict that is there gives the default, as gonja's | default(...) does. gonja looks such a
// key up as an error, which guardFilter lets through uncharged, or as nil with
// missingAsEmpty, which it charges.
func (p *part) value(s *Scope, missingAsEmpty bool, maxSize int) (any, int, bool) {
	x, ok := s.lookup(p.path)
	if !ok && p.defaulted && p.missingKey(s) {
		if !missingAsEmpty {
			return p.fallback, 0, true
		}
		n := measure(nil, maxSize)
		return p.fallback, n, n*p.defaultArgs <= maxAmplification
	}
	if !ok || !p.defaulted {
		return x, 0, ok
	}
	if exec.ToValue(x).IsNil() {
		return nil, 0, false
	}
	n := measure(x, maxSize)
	if n > maxSize || max(n, 1)*p.defaultArgs > maxAmplification {
		return nil, 0, false
	}
	return x, n, true
}

// missingKey reports whether the part's variable is a key missing from a dict that is
// there, which gonja reports as an attribute or item not found (an error | default(...)
// replaces): the dict's methods (keys, get...) are not missing, and a missing name may be a
// global, so neither is taken for one.
func (p *part) missingKey(s *Scope) bool {
	n := len(p.path)
	if n < 2 || slices.Contains(safeMethods.dict, p.path[n-1]) {
		return false
	}
	x, ok := s.lookup(p.path[:n-1])
	m, isMap := x.(map[string]any)
	if !ok || !isMap {
		return false
	}
	_, there := m[p.path[n-1]]
	return !there
}

// render renders one part with s, and returns the work gonja charges for it (see value).
func (p *part) render(s *Scope, missingAsEmpty bool, maxSize int) (string, int, bool) {
	if p.path == nil {
		return p.text, 0, true
	}
	x, work, ok := p.value(s, missingAsEmpty, maxSize)
	if !ok {
		return "", 0, false
	}
	out := valueString(x, missingAsEmpty)
	if p.escape != nil {
		out = p.escape(out)
	}
	return out, work, true
}

// valueString is x as the sandbox prints it (see printValue), without boxing the common
// types.
func valueString(x any, missingAsEmpty bool) string {
	switch x := x.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		if missingAsEmpty {
			return ""
		}
		return "None"
	}
	return pyStr(exec.ToValue(x))
}
