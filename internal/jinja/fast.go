package jinja

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
)

// Most templates are plain text with a few variables ("{{ user.id }}",
// "{{ parameter['plan'] }}"). Such a simple template is rendered here, without gonja, to the
// same bytes: the text is what gonja writes for each text node, and each variable is looked
// up with Vars.Lookup, which finds what gonja finds in Vars.Data, then formatted by gonja's
// own Value.String. Whenever a variable is missing or the output is too large, gonja renders
// the template instead, so missing variables and errors behave exactly as before.

// part is one piece of a simple template: literal text, or the variable at path, escaped
// for its position in a URL when escape is set.
type part struct {
	text   string
	path   []string // nil for literal text
	escape func(string) string
}

// simpleParts returns the parts of a template made only of text, comments and variable
// lookups (each with at most one of the URL escaping filters CompileURL adds), and whether
// it is one.
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
	p.path = lookupPath(inner)
	return p, len(p.path) > 0
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

// renderFast renders a simple template with v. It reports false if a variable is missing,
// the output would be longer than max or formatting a value panics: gonja renders the
// template then, and fails as it does.
func (t *Template) renderFast(v Vars) (out string, ok bool) {
	max := t.env.maxSize
	defer func() {
		if recover() != nil {
			out, ok = "", false
		}
	}()
	if len(t.parts) == 1 { // most templates: no need to join
		s, ok := t.parts[0].render(v, t.env.missingAsEmpty)
		return s, ok && len(s) <= max
	}
	var b strings.Builder
	for _, p := range t.parts {
		s, ok := p.render(v, t.env.missingAsEmpty)
		if !ok || b.Len()+len(s) > max {
			return "", false
		}
		b.WriteString(s)
	}
	return b.String(), true
}

// render renders one part with v.
func (p *part) render(v Vars, missingAsEmpty bool) (string, bool) {
	if p.path == nil {
		return p.text, true
	}
	x, ok := lookup(v, p.path)
	if !ok {
		return "", false
	}
	s := valueString(x, missingAsEmpty)
	if p.escape != nil {
		s = p.escape(s)
	}
	return s, true
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
