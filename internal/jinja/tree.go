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
	// rewritten: rewriteTemplate (or, in a URL, CompileURL) rewrites it.
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
	reflect.TypeFor[nodes.TestExpression]():        rewritten,
	reflect.TypeFor[nodes.TestCall]():              checked,
	reflect.TypeFor[nodes.String]():                walked,
	reflect.TypeFor[nodes.Integer]():               walked,
	reflect.TypeFor[nodes.Float]():                 walked,
	reflect.TypeFor[nodes.Bool]():                  walked,
	reflect.TypeFor[nodes.Name]():                  rewritten,
	reflect.TypeFor[nodes.None]():                  walked,
	reflect.TypeFor[nodes.List]():                  rewritten,
	reflect.TypeFor[nodes.Tuple]():                 rewritten,
	reflect.TypeFor[nodes.Dict]():                  rewritten,
	reflect.TypeFor[nodes.Pair]():                  walked,
	reflect.TypeFor[nodes.Variable]():              walked,
	reflect.TypeFor[nodes.VariablePart]():          walked,
	reflect.TypeFor[nodes.Call]():                  rewritten,
	reflect.TypeFor[nodes.GetItem]():               rewritten,
	reflect.TypeFor[nodes.GetSlice]():              walked,
	reflect.TypeFor[nodes.GetAttribute]():          walked,
	reflect.TypeFor[nodes.Negation]():              rewritten,
	reflect.TypeFor[nodes.UnaryExpression]():       rewritten,
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
	reflect.TypeFor[controlstructures.MacroControlStructure]():      rewritten, // into a boundedMacro
	reflect.TypeFor[controlstructures.CallControlStructure]():       rewritten, // into a boundedCall
	reflect.TypeFor[nodes.Macro]():                                  walked,
}

// gonjaModule prefixes the package paths of gonja's types.
const gonjaModule = "github.com/nikolalohinski/gonja/v2/"

// binops are the operators rewritten into calls of filterBinop, which computes them as
// Python does (see binop), by their tokens.
var binops = map[tokens.Type]string{
	tokens.Addition: "+", tokens.Subtraction: "-", tokens.Multiply: "*", tokens.Division: "/",
	tokens.FloorDivision: "//", tokens.Modulo: "%", tokens.Power: "**", tokens.Tilde: "~",
	tokens.LowerThan: "<", tokens.LowerThanOrEqual: "<=", tokens.GreaterThan: ">", tokens.GreaterThanOrEqual: ">=",
	tokens.Equals: "==", tokens.Ne: "!=",
}

// comparisons are the operators that chain: a < b < c is a < b and b < c.
var comparisons = map[tokens.Type]bool{tokens.LowerThan: true, tokens.LowerThanOrEqual: true,
	tokens.GreaterThan: true, tokens.GreaterThanOrEqual: true, tokens.Equals: true, tokens.Ne: true}

// rewriteTemplate rewrites a compiled template so that the limits apply and values behave as
// in Jinja2: every for loop's iterable is charged to the budget, the operators of binops are
// computed by filterBinop (which also limits what + and * make), printed values are
// formatted by filterPrint, list, tuple and dict literals are checked by filterList,
// filterTuple and filterDict, not, + and - of one operand are filterNot, filterPlus and filterMinus, the targets of [] go through filterSubscript and the name loop through
// filterLoopVar. It returns a problem for each recursive for loop and each type of
// node the sandbox does not know.
func rewriteTemplate(root *nodes.Template) []string {
	var ps []string
	unknown := map[reflect.Type]bool{}
	var calls []*nodes.Call
	wrapped := map[nodes.Node]bool{} // names "loop" and lists already put in a filter
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
			switch n := v.Interface().(type) {
			case *controlstructures.ForControlStructure:
				if n.Recursive {
					ps = append(ps, position(n.Position())+": recursive loops are not allowed")
				}
				n.ObjectEvaluator = filtered(n.ObjectEvaluator, filterLoop, n.Position())
			case *nodes.Output:
				n.Expression = filtered(n.Expression, filterPrint, n.Start)
				if n.Alternative != nil {
					n.Alternative = filtered(n.Alternative, filterPrint, n.Start)
				}
			case *nodes.Call:
				calls = append(calls, n)
			case *nodes.TestExpression:
				if n.Expression == nil { // gonja parses "{{ in x }}" so, and panics rendering it
					ps = append(ps, position(n.Test.Token)+": expected a value before '"+n.Test.Name+"'")
				}
			}
			return
		}
		if v.Kind() != reflect.Interface || !v.CanSet() {
			return
		}
		if t, ok := v.Interface().(*nodes.TestExpression); ok {
			// In Jinja2 a test binds tighter than any operator but and, or and not: 1 + x is
			// even is 1 + (x is even). gonja tests all of 1 + x. The operator is rewritten next.
			if b, ok := t.Expression.(*nodes.BinaryExpression); ok && binops[b.Operator.Token.Type] != "" {
				v.Set(reflect.ValueOf(testRightmost(b, t.Test)))
			}
		}
		if b, ok := v.Interface().(*nodes.BinaryExpression); ok && binops[b.Operator.Token.Type] != "" {
			if left, ok := b.Left.(*nodes.BinaryExpression); ok && comparisons[b.Operator.Token.Type] && comparisons[left.Operator.Token.Type] {
				// gonja reads a < b < c as (a < b) < c; Python as a < b and b < c. The walk
				// goes on into the "and", whose comparisons it rewrites in turn.
				at := privateToken(b.Operator.Token)
				at.Type, at.Val = tokens.And, "and"
				v.Set(reflect.ValueOf(&nodes.BinaryExpression{Left: left, Operator: &nodes.BinOperator{Token: at},
					Right: &nodes.BinaryExpression{Left: left.Right, Operator: b.Operator, Right: b.Right}}))
				return
			}
			at := privateToken(b.Operator.Token)
			op := binops[at.Type]
			v.Set(reflect.ValueOf(&nodes.FilteredExpression{
				Expression: b.Left,
				Filters: []*nodes.FilterCall{{Token: at, Name: filterBinop,
					Args: []nodes.Expression{&nodes.String{Location: at, Val: op}, b.Right}}},
			}))
			return
		}
		switch n := v.Interface().(type) {
		case *nodes.Name:
			if n.Name.Val == "loop" && !wrapped[n] {
				wrapped[n] = true
				v.Set(reflect.ValueOf(filtered(n, filterLoopVar, n.Name)))
			}
		case *nodes.Negation:
			v.Set(reflect.ValueOf(filtered(n.Term, filterNot, n.Operator)))
		case *nodes.UnaryExpression:
			f := filterPlus
			if n.Negative {
				f = filterMinus
			}
			v.Set(reflect.ValueOf(filtered(n.Term, f, n.Operator)))
		case *nodes.List:
			if !wrapped[n] {
				wrapped[n] = true
				v.Set(reflect.ValueOf(filtered(n, filterList, n.Location)))
			}
		case *nodes.Dict:
			if !wrapped[n] {
				wrapped[n] = true
				v.Set(reflect.ValueOf(filtered(n, filterDict, n.Token)))
			}
		case *nodes.Tuple:
			l := &nodes.List{Location: n.Location, Val: n.Val}
			wrapped[l] = true
			v.Set(reflect.ValueOf(filtered(l, filterTuple, n.Location)))
		case *nodes.GetItem:
			n.Node = &nodes.FilteredExpression{Expression: n.Node,
				Filters: []*nodes.FilterCall{{Token: privateToken(n.Location), Name: filterSubscript, Args: []nodes.Expression{n.Arg}}}}
		}
	})
	// A method call keeps the node it is called on twice, as its function's target and as its
	// parent, which gonja evaluates to call the method; the walk rewrote only the first. gonja
	// leaves the parent out when the target is in parentheses, as in ('a' ~ 'b').upper().
	for _, c := range calls {
		switch f := c.Func.(type) {
		case *nodes.GetAttribute:
			c.Parent = f.Node
		case *nodes.GetItem:
			if c.Parent != nil {
				c.Parent = f.Node
			}
		}
	}
	return ps
}

// testRightmost returns the binary expression b with test applied to its rightmost operand,
// as Jinja2 parses "b is test".
func testRightmost(b *nodes.BinaryExpression, test *nodes.TestCall) *nodes.BinaryExpression {
	right := nodes.Expression(&nodes.TestExpression{Expression: b.Right, Test: test})
	if r, ok := b.Right.(*nodes.BinaryExpression); ok && binops[r.Operator.Token.Type] != "" {
		right = testRightmost(r, test)
	}
	return &nodes.BinaryExpression{Left: b.Left, Operator: b.Operator, Right: right}
}

// subscriptTarget returns what g indexes, without the filterSubscript that rewriteTemplate
// put around it.
func subscriptTarget(g *nodes.GetItem) nodes.Node {
	if f, ok := g.Node.(*nodes.FilteredExpression); ok && len(f.Filters) == 1 && f.Filters[0].Name == filterSubscript {
		return f.Expression
	}
	return g.Node
}

// printed returns expr without the filterPrint that rewriteTemplate put around it: the
// value itself.
func printed(expr nodes.Expression) nodes.Expression {
	if f, ok := expr.(*nodes.FilteredExpression); ok && len(f.Filters) == 1 && f.Filters[0].Name == filterPrint {
		return f.Expression
	}
	return expr
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
	walkTreeMeeting(v, visit, nil)
}

// walkTreeMeeting is walkTree that also calls met, if not nil, with every non-nil pointer
// each time the walk meets it: once for every field, element or interface that holds it.
func walkTreeMeeting(v reflect.Value, visit func(reflect.Value), met func(reflect.Value)) {
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				return
			}
			if met != nil {
				met(v)
			}
			if seen[v.Pointer()] {
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
