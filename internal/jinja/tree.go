package jinja

import (
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	controlstructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// What the sandbox does with each type of gonja's syntax tree.
const (
	// walked: nothing of its own is limited; the walk goes into its fields.
	walked = "walked"
	// checked: its name is checked against the environment at compile time.
	checked = "checked"
	// rewritten: limitTemplate (or, in a URL, CompileURL) rewrites it.
	rewritten = "rewritten"
)

// nodeTypes are the struct types of gonja's syntax trees that the sandbox knows, with what
// it does with each. A template whose tree holds any other struct type of the gonja module
// is refused, so that a gonja upgrade cannot bring an unlimited construct in unnoticed;
// sandbox_test.go lists the types gonja declares and fails when one is in neither this map
// nor its list of types that never appear in a tree.
var nodeTypes = map[reflect.Type]string{
	reflect.TypeFor[tokens.Token](): walked,

	reflect.TypeFor[nodes.Template]():              walked,
	reflect.TypeFor[nodes.Trim]():                  walked,
	reflect.TypeFor[nodes.Data]():                  walked,
	reflect.TypeFor[nodes.Comment]():               walked,
	reflect.TypeFor[nodes.Output]():                rewritten,
	reflect.TypeFor[nodes.FilteredExpression]():    walked,
	reflect.TypeFor[nodes.FilterCall]():            checked,
	reflect.TypeFor[nodes.TestExpression]():        walked,
	reflect.TypeFor[nodes.TestCall]():              checked,
	reflect.TypeFor[nodes.String]():                walked,
	reflect.TypeFor[nodes.Integer]():               walked,
	reflect.TypeFor[nodes.Float]():                 walked,
	reflect.TypeFor[nodes.Bool]():                  walked,
	reflect.TypeFor[nodes.Name]():                  walked,
	reflect.TypeFor[nodes.None]():                  walked,
	reflect.TypeFor[nodes.List]():                  walked,
	reflect.TypeFor[nodes.Tuple]():                 walked,
	reflect.TypeFor[nodes.Dict]():                  walked,
	reflect.TypeFor[nodes.Pair]():                  walked,
	reflect.TypeFor[nodes.Variable]():              walked,
	reflect.TypeFor[nodes.VariablePart]():          walked,
	reflect.TypeFor[nodes.Call]():                  walked,
	reflect.TypeFor[nodes.GetItem]():               walked,
	reflect.TypeFor[nodes.GetSlice]():              walked,
	reflect.TypeFor[nodes.GetAttribute]():          walked,
	reflect.TypeFor[nodes.Negation]():              walked,
	reflect.TypeFor[nodes.UnaryExpression]():       walked,
	reflect.TypeFor[nodes.BinaryExpression]():      rewritten,
	reflect.TypeFor[nodes.BinOperator]():           walked,
	reflect.TypeFor[nodes.ControlStructureBlock](): walked,
	reflect.TypeFor[nodes.Wrapper]():               walked,
	reflect.TypeFor[nodes.Error]():                 walked,

	reflect.TypeFor[controlstructures.AutoescapeControlStructure](): walked,
	reflect.TypeFor[controlstructures.DoControlStructure]():         walked,
	reflect.TypeFor[controlstructures.FilterControlStructure]():     walked,
	reflect.TypeFor[controlstructures.ForControlStructure]():        rewritten,
	reflect.TypeFor[controlstructures.IfControlStructure]():         walked,
	reflect.TypeFor[controlstructures.RawControlStructure]():        walked,
	reflect.TypeFor[controlstructures.SetControlStructure]():        walked,
	reflect.TypeFor[controlstructures.WithControlStructure]():       walked,
	reflect.TypeFor[controlstructures.BreakControlStructure]():      walked,
	reflect.TypeFor[controlstructures.ContinueControlStructure]():   walked,
}

// gonjaModule prefixes the package paths of gonja's types.
const gonjaModule = "github.com/nikolalohinski/gonja/v2/"

// limitTemplate rewrites a compiled template so the limits apply: the count of * is checked,
// the operands of + and ~ are measured, and every for loop's iterable is charged to the
// budget. It returns a problem for each recursive for loop and each type of node the
// sandbox does not know.
func limitTemplate(root *nodes.Template) []string {
	var ps []string
	unknown := map[reflect.Type]bool{}
	walkTree(reflect.ValueOf(root), func(v reflect.Value) {
		if v.Kind() == reflect.Struct {
			if t := v.Type(); strings.HasPrefix(t.PkgPath(), gonjaModule) && nodeTypes[t] == "" && !unknown[t] {
				unknown[t] = true
				ps = append(ps, fmt.Sprintf("%s is not known to the template sandbox", t))
			}
			return
		}
		if !v.CanInterface() {
			return // not reached through a pointer: not a node
		}
		if v.Kind() == reflect.Pointer {
			if f, ok := v.Interface().(*controlstructures.ForControlStructure); ok {
				if f.Recursive {
					ps = append(ps, position(f.Position())+": recursive loops are not allowed")
				}
				f.ObjectEvaluator = filtered(f.ObjectEvaluator, filterLoop, f.Position())
			}
			return
		}
		if v.Kind() != reflect.Interface || !v.CanSet() {
			return
		}
		b, ok := v.Interface().(*nodes.BinaryExpression)
		if !ok {
			return
		}
		at := b.Operator.Token
		switch at.Type {
		case tokens.Multiply:
			// The node stays a BinaryExpression (gonja calls methods only on some kinds of
			// node), with its count checked against its string first.
			b.Right = &nodes.FilteredExpression{
				Expression: b.Right,
				Filters:    []*nodes.FilterCall{{Token: privateToken(at), Name: filterRepeatCount, Args: []nodes.Expression{b.Left}}},
			}
		case tokens.Addition, tokens.Tilde:
			b.Left = filtered(b.Left, filterOperand, at)
			b.Right = filtered(b.Right, filterOperand, at)
		}
	})
	return ps
}

// filtered returns expr with a private filter applied.
func filtered(expr nodes.Expression, filter string, at *tokens.Token) nodes.Expression {
	return &nodes.FilteredExpression{Expression: expr, Filters: []*nodes.FilterCall{{Token: privateToken(at), Name: filter}}}
}

// privateToken returns a token at the position of at, with no text: gonja quotes the token
// of a failing filter in its error, and the text of a template can hold a secret.
func privateToken(at *tokens.Token) *tokens.Token {
	return &tokens.Token{Type: at.Type, Pos: at.Pos, Line: at.Line, Col: at.Col}
}

// position formats the position of a token.
func position(t *tokens.Token) string {
	if t == nil {
		return "unknown position"
	}
	return fmt.Sprintf("line %d col %d", t.Line, t.Col)
}

// inspect calls visit with every node reachable from root, once each, before its children.
func inspect(root *nodes.Template, visit func(n any)) {
	walkTree(reflect.ValueOf(root), func(v reflect.Value) {
		if v.Kind() == reflect.Pointer && v.CanInterface() {
			visit(v.Interface())
		}
	})
}

// walkTree calls visit on every pointer, interface and struct value reachable from v, once
// for each pointer, before walking into it; visit may replace a settable interface value,
// and the walk then goes into the replacement.
func walkTree(v reflect.Value, visit func(reflect.Value)) {
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			visit(v)
			walk(v.Elem())
		case reflect.Interface:
			visit(v)
			walk(v.Elem())
		case reflect.Struct:
			visit(v)
			for i := range v.NumField() {
				f := v.Field(i)
				if !f.CanSet() && f.CanAddr() {
					// gonja keeps the expressions of some statements ({% set %}, {% if %},
					// {% with %}) in unexported fields; they must be rewritten all the same.
					f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
				}
				walk(f)
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			if !v.CanInterface() {
				return // only maps reached through a pointer are walked
			}
			for it := v.MapRange(); it.Next(); {
				// Map values cannot be set in place: walk a copy and store it back.
				e := reflect.New(it.Value().Type()).Elem()
				e.Set(it.Value())
				walk(e)
				v.SetMapIndex(it.Key(), e)
			}
		}
	}
	walk(v)
}
