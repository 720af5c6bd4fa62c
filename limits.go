package webhook

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unsafe"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlstructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Template limits beyond the range cap and the output cap. gonja has no limits of its own:
// "x" * 50000000 takes seconds, "x" * -1 panics, a value doubled by {% set a = a ~ a %} a few
// dozen times exhausts memory, nested loops run for ever, and a macro or block that calls
// itself overflows the stack, which kills the process and cannot be recovered. So templates
// are held to these limits, per rendering of one request:
const (
	// maxLoopIterations is the most iterations of all for loops together.
	maxLoopIterations = 100_000
	// maxWork is the most bytes all filters, methods and the + and ~ operators may read
	// together.
	maxWork = 64 << 20
	// maxAmplification bounds a filter's or method's input size times its arguments' size:
	// the most a call such as join, replace, indent or center could produce.
	maxAmplification = 16 << 20
)

// Private filters that the template rewriter puts around operands and loop iterables.
const (
	filterRepeatCount = "_repeat_count"
	filterOperand     = "_operand"
	filterLoop        = "_loop"
	// budgetKey names the rendering's *renderBudget in the gonja context.
	budgetKey = "_hookline_budget"
)

// rePrivateFilter matches what gonja says around an error from a private filter.
var rePrivateFilter = regexp.MustCompile(`[^:\s][^:]*?filtered_expression\(.*?\): |unable to evaluate filter &\{<Token\[\w+\] Val='' Pos=\d+ Line=\d+ Col=\d+> _\w+ \[.*?\] map\[\]\}: (?:invalid call to filter '_\w+': )?`)

// forbiddenStructures are statements that can recurse without bound. A recursive call
// overflows the Go stack, which is fatal, so they are refused rather than limited.
var forbiddenStructures = map[string]string{
	"macro": "a macro that calls itself would crash the sender",
	"call":  "macros are not allowed",
	"block": "a block that renders itself would crash the sender",
}

// safeMethods are the methods templates may call on values. Methods that change a list or a
// dict in place (append, update, pop, setdefault, clear, reverse) are left out, as Jinja's
// immutable sandbox does: with them a template could build a value that contains itself.
var safeMethods = struct{ str, dict, list, number []string }{
	str: []string{"capitalize", "capwords", "casefold", "center", "count", "endswith", "expandtabs",
		"find", "format", "format_map", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit",
		"islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust",
		"lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rjust",
		"rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
		"title", "upper", "zfill"},
	dict:   []string{"keys", "values", "items", "get", "copy"},
	list:   []string{"copy"},
	number: []string{"is_integer", "bit_length", "bit_count", "as_integer_ratio", "hex", "string", "int"},
}

// builtinFilters are gonja's filters, each wrapped by guardFilter.
var builtinFilters = []string{"abs", "attr", "batch", "capitalize", "center", "default", "d",
	"dictsort", "e", "escape", "filesizeformat", "first", "float", "forceescape", "format",
	"groupby", "indent", "int", "join", "items", "last", "length", "count", "list", "lower", "map",
	"max", "min", "pprint", "random", "rejectattr", "reject", "replace", "reverse", "round", "safe",
	"selectattr", "select", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
	"truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"}

// renderBudget counts the work of one rendering. It is used by one goroutine at a time.
type renderBudget struct {
	iterations int
	work       int
}

// spend charges n bytes of work, or, with loop, n loop iterations.
func (b *renderBudget) spend(n int, loop bool) error {
	if loop {
		if b.iterations += n; b.iterations > maxLoopIterations {
			return fmt.Errorf("loops ran more than %d times in all", maxLoopIterations)
		}
		return nil
	}
	if b.work += n; b.work > maxWork {
		return fmt.Errorf("template did more than %d bytes of work", maxWork)
	}
	return nil
}

// budget returns the rendering's budget from the evaluator's context.
func budget(e *exec.Evaluator) (*renderBudget, error) {
	v, _ := e.Environment.Context.Get(budgetKey)
	if b, ok := v.(*renderBudget); ok {
		return b, nil
	}
	return nil, errors.New("template cannot change " + budgetKey)
}

// limitEnvironment adds the limits to an engine's filters and control structures and
// returns the methods templates may call.
func limitEnvironment(filters *exec.FilterSet, cs *exec.ControlStructureSet, maxSize int) exec.Methods {
	for name, msg := range forbiddenStructures {
		_ = cs.Replace(name, forbiddenStatement(name, msg))
	}
	for _, name := range builtinFilters {
		if f, ok := filters.Get(name); ok {
			_ = filters.Replace(name, guardFilter(f, maxSize))
		}
	}
	_ = filters.Register(filterRepeatCount, func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if len(params.Args) != 1 {
			return exec.AsValue(errors.New(filterRepeatCount + " takes one argument"))
		}
		return repeatCount(in, params.Args[0], maxSize)
	})
	_ = filters.Register(filterOperand, func(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		n := measure(in, maxSize)
		if n > maxSize/2 {
			return exec.AsValue(fmt.Errorf("operand of + or ~ is larger than %d bytes", maxSize/2))
		}
		if err := charge(e, n, false); err != nil {
			return exec.AsValue(err)
		}
		return in
	})
	_ = filters.Register(filterLoop, func(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		if err := charge(e, in.Len()+1, true); err != nil {
			return exec.AsValue(err)
		}
		return in
	})
	m := builtins.Methods
	return exec.Methods{
		Str:   guardMethods(m.Str, safeMethods.str, maxSize),
		Dict:  guardMethods(m.Dict, safeMethods.dict, maxSize),
		List:  guardMethods(m.List, safeMethods.list, maxSize),
		Int:   guardMethods(m.Int, safeMethods.number, maxSize),
		Float: guardMethods(m.Float, safeMethods.number, maxSize),
		Bool:  guardMethods(m.Bool, safeMethods.number, maxSize),
	}
}

// charge spends n from the rendering's budget.
func charge(e *exec.Evaluator, n int, loop bool) error {
	b, err := budget(e)
	if err != nil {
		return err
	}
	return b.spend(n, loop)
}

// guardFilter wraps a filter so that it refuses inputs and arguments that could make it
// produce too much, charges its input to the budget, and refuses a result that is too large.
func guardFilter(f exec.FilterFunction, maxSize int) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return f(e, in, params) // default() and friends handle missing values
		}
		n, err := checkCall(in, params, maxSize)
		if err == nil {
			err = charge(e, n, false)
		}
		if err != nil {
			return exec.AsValue(err)
		}
		out := f(e, in, params)
		if !out.IsError() && measure(out, maxSize) > maxSize {
			return exec.AsValue(fmt.Errorf("result is larger than %d bytes", maxSize))
		}
		return out
	}
}

// guardMethods returns a method set with the named methods of set, each refusing inputs and
// arguments that could make it produce too much, and a result that is too large.
func guardMethods[I any](set *exec.MethodSet[I], names []string, maxSize int) *exec.MethodSet[I] {
	out := map[string]exec.Method[I]{}
	for _, name := range names {
		f, ok := set.Get(name)
		if !ok {
			continue
		}
		formats := name == "format" || name == "format_map"
		out[name] = func(self I, selfValue *exec.Value, args *exec.VarArgs) (any, error) {
			if _, err := checkCall(selfValue, args, maxSize); err != nil {
				return nil, err
			}
			if formats && wideFormat(selfValue.String(), maxSize) {
				return nil, fmt.Errorf("format width or precision larger than %d", maxSize)
			}
			v, err := f(self, selfValue, args)
			if err == nil && measure(v, maxSize) > maxSize {
				return nil, fmt.Errorf("result is larger than %d bytes", maxSize)
			}
			return v, err
		}
	}
	return exec.NewMethodSet(out)
}

// reFormatField matches a replacement field of a str.format string, and reDigits the
// numbers in it.
var (
	reFormatField = regexp.MustCompile(`\{[^{}]*\}`)
	reDigits      = regexp.MustCompile(`\d+`)
)

// wideFormat reports whether a str.format string asks for a width or precision above max:
// gonja pads with strings.Repeat, so "{:>999999999999}" would allocate a terabyte.
func wideFormat(f string, max int) bool {
	for _, field := range reFormatField.FindAllString(f, -1) {
		for _, n := range reDigits.FindAllString(field, -1) {
			if v, err := strconv.Atoi(n); err != nil || v > max {
				return true
			}
		}
	}
	return false
}

// checkCall returns the size of a call's input, or an error if the input is larger than
// maxSize or the input's size times its arguments' (an integer counting as its value) is
// more than maxAmplification.
func checkCall(in *exec.Value, params *exec.VarArgs, maxSize int) (int, error) {
	n := measure(in, maxSize)
	if n > maxSize {
		return 0, fmt.Errorf("input is larger than %d bytes", maxSize)
	}
	args := 1
	add := func(v *exec.Value) {
		switch {
		case v.IsInteger():
			args += min(abs(v.Integer()), maxAmplification)
		case v.IsFloat():
			args += int(min(max(v.Float(), -v.Float()), maxAmplification))
		default:
			args += measure(v, maxAmplification)
		}
		args = min(args, maxAmplification+1)
	}
	for _, v := range params.Args {
		add(v)
	}
	for _, v := range params.KwArgs {
		add(v)
	}
	if max(n, 1)*args > maxAmplification {
		return 0, fmt.Errorf("input and arguments could produce more than %d bytes", maxAmplification)
	}
	return n, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// repeatCount checks the right operand of * before gonja multiplies: it returns the count
// unchanged, 0 for a string repeated a negative number of times (as in Python; gonja's
// strings.Repeat would panic), or an error if the string would grow past maxSize.
func repeatCount(count, left *exec.Value, maxSize int) *exec.Value {
	if count.IsError() || left.IsError() || !left.IsString() || left.IsFloat() || count.IsFloat() {
		return count
	}
	n, size := count.Integer(), len(left.String())
	switch {
	case n < 0:
		return exec.AsValue(0)
	case size > 0 && n > maxSize/size:
		return exec.AsValue(fmt.Errorf("string repeated to more than %d bytes", maxSize))
	}
	return count
}

// measure returns the size of a template value, counting string bytes and one per item,
// or a number above limit as soon as it passes limit. A value that contains itself is
// therefore measured as too large rather than for ever.
func measure(v any, limit int) int {
	n := 0
	var walk func(v any)
	walk = func(v any) {
		if n > limit {
			return
		}
		switch v := v.(type) {
		case nil:
			n++
		case *exec.Value:
			if v == nil || v.IsError() {
				n++
				return
			}
			walk(v.Interface())
		case string:
			n += len(v) + 1
		case exec.ValuesList:
			n++
			for _, e := range v {
				walk(e)
			}
		case *exec.Dict:
			n++
			for _, p := range v.Pairs {
				walk(p.Key)
				walk(p.Value)
			}
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Slice, reflect.Array:
				n++
				for i := range rv.Len() {
					walk(rv.Index(i).Interface())
				}
			case reflect.Map:
				n++
				for it := rv.MapRange(); it.Next(); {
					walk(it.Key().Interface())
					walk(it.Value().Interface())
				}
			default:
				n += 8
			}
		}
	}
	walk(v)
	return n
}

// limitTemplate refuses recursive for loops and rewrites a compiled template so the limits
// apply: the count of * is checked, the operands of + and ~ are measured, and every for
// loop's iterable is charged to the budget.
func limitTemplate(path string, root *nodes.Template, ps *problems) {
	walkTree(reflect.ValueOf(root), func(v reflect.Value) {
		if !v.CanInterface() {
			return // not reached through a pointer: not a node
		}
		if v.Kind() == reflect.Pointer {
			if f, ok := v.Interface().(*controlstructures.ForControlStructure); ok {
				if f.Recursive {
					ps.add(path, "%s: recursive loops are not allowed", tokenPosition(reflect.ValueOf(f.Position())))
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

// walkTree calls visit on every pointer and interface value reachable from v, once for each
// pointer, before walking into it; visit may replace a settable interface value, and the
// walk then goes into the replacement.
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

// reLexerTrap matches what sends gonja's lexer into an endless loop that allocates until
// the process dies: inside a tag, a number, a '.', then a character of more than one byte
// (the lexer steps back by that character's width where it should step back one byte).
var reLexerTrap = regexp.MustCompile(`[0-9]\.[^\x00-\x7f]`)

// lexerTrap reports whether a tag ({{ ... }} or {% ... %}) in src holds what reLexerTrap
// matches. A tag's end is taken to be the first "}}" or "%}" after its start, so text in a
// string literal can be refused with it; text outside tags never is.
func lexerTrap(src string) bool {
	for {
		i := strings.Index(src, "{")
		if i < 0 || i+1 >= len(src) {
			return false
		}
		if src[i+1] != '{' && src[i+1] != '%' {
			src = src[i+1:]
			continue
		}
		src = src[i+2:]
		end := len(src)
		for _, close := range []string{"}}", "%}"} {
			if j := strings.Index(src, close); j >= 0 && j < end {
				end = j
			}
		}
		if reLexerTrap.MatchString(src[:end]) {
			return true
		}
		src = src[end:]
	}
}
