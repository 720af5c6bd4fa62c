package webhook

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
// up as gonja looks it up in the context vars.context builds, then formatted by gonja's own
// Value.String. Whenever a variable is missing or the output is too large, gonja renders the
// template instead, so missing variables and errors behave exactly as before.

// part is one piece of a simple template: literal text, or the variable at path, escaped
// for its position in a URL when escape is set.
type part struct {
	text   string
	path   []string // nil for literal text
	escape func(string) string
}

// simpleParts returns the parts of a template made only of text, comments and variable
// lookups (each with at most one of the URL escaping filters compileURL adds), and whether
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

// simpleOutput returns the part of a {{ expression }} that is a variable lookup, possibly
// through one URL escaping filter.
func simpleOutput(expr nodes.Expression) (part, bool) {
	var p part
	if f, ok := expr.(*nodes.FilteredExpression); ok {
		if len(f.Filters) != 1 || len(f.Filters[0].Args) > 0 || len(f.Filters[0].Kwargs) > 0 {
			return p, false
		}
		if p.escape = urlEscapes[f.Filters[0].Name]; p.escape == nil {
			return p, false
		}
		expr = f.Expression
	}
	p.path = lookupPath(expr)
	if len(p.path) == 0 {
		return p, false
	}
	switch p.path[0] {
	case "user", "message", "event", "userAttribute", "parameter", "now":
		return p, true
	}
	return p, false
}

// readsUser reports whether t may read more of the user than user.id.
func (t *template) readsUser() bool {
	if !t.simple {
		return true
	}
	for _, p := range t.parts {
		switch {
		case p.path == nil:
		case p.path[0] == "userAttribute", p.path[0] == "user" && (len(p.path) < 2 || p.path[1] != "id"):
			return true
		}
	}
	return false
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
			if p := lookupPath(n.Node); p != nil {
				return append(p, k.Val)
			}
		}
	}
	return nil
}

// lookup returns the value at path in the context vars.context builds, without building
// it, and whether it is there. Only the maps vars.context copies (map[string]any) are
// walked; any other value on the way, and a value gonja would take for an error, reports
// false, for gonja to handle.
func (v *vars) lookup(path []string) (any, bool) {
	var x any
	ok := true
	rest := path[1:]
	switch path[0] {
	case "userAttribute":
		x = map[string]any(v.user.Attributes)
	case "parameter":
		x = map[string]any(v.params)
	case "now":
		x = formatTime(v.now)
	default: // a record: user, message or event
		if len(rest) == 0 {
			return nil, false
		}
		x, ok = v.field(path[0], rest[0])
		rest = rest[1:]
	}
	for _, k := range rest {
		if !ok {
			break
		}
		m, isMap := x.(map[string]any)
		if !isMap {
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

// renderSimple renders a simple template with v. It reports false if a variable is missing,
// the output would be longer than max or formatting a value panics: gonja renders the
// template then, and fails as it does.
func (t *template) renderSimple(v *vars, max int) (out string, ok bool) {
	defer func() {
		if recover() != nil {
			out, ok = "", false
		}
	}()
	if len(t.parts) == 1 { // most templates: no need to join
		s, ok := t.parts[0].render(v)
		return s, ok && len(s) <= max
	}
	var b strings.Builder
	for _, p := range t.parts {
		s, ok := p.render(v)
		if !ok || b.Len()+len(s) > max {
			return "", false
		}
		b.WriteString(s)
	}
	return b.String(), true
}

// render renders one part with v.
func (p *part) render(v *vars) (string, bool) {
	if p.path == nil {
		return p.text, true
	}
	x, ok := v.lookup(p.path)
	if !ok {
		return "", false
	}
	s := valueString(x)
	if p.escape != nil {
		s = p.escape(s)
	}
	return s, true
}

// valueString is gonja's Value.String of x, without boxing the common types.
func valueString(x any) string {
	switch x := x.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return exec.ToValue(x).String()
}
