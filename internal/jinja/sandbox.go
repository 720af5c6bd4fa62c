package jinja

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// The limits of one rendering (all the templates of one Scope). gonja has none of its own:
// "x" * 50000000 takes seconds, "x" * -1 panics, a value doubled by {% set a = a ~ a %} a
// few dozen times exhausts memory, range() builds its whole list, nested loops run for ever,
// and a macro or block that calls itself overflows the stack, which kills the process and
// cannot be recovered.
const (
	// maxRangeLen is the most items range() may produce.
	maxRangeLen = 10000
	// maxLoopIterations is the most iterations of all for loops together.
	maxLoopIterations = 100_000
	// maxWork is the most bytes all filters, methods and the + and ~ operators may read
	// together.
	maxWork = 64 << 20
	// maxAmplification bounds a filter's or method's input size times its arguments' size:
	// the most a call such as join, replace, indent or center could produce.
	maxAmplification = 16 << 20
)

// Private filters that the template rewriter puts around operands and loop iterables, and
// the name of the rendering's budget in the gonja context.
const (
	filterRepeatCount = "_repeat_count"
	filterOperand     = "_operand"
	filterLoop        = "_loop"
	budgetKey         = "_hookline_budget"
)

// builtinFilters are the gonja filters templates may use, each wrapped by guardFilter.
// sandbox_test.go fails when gonja has a filter that is not listed.
var builtinFilters = []string{"abs", "attr", "batch", "capitalize", "center", "default", "d",
	"dictsort", "e", "escape", "filesizeformat", "first", "float", "forceescape", "format",
	"groupby", "indent", "int", "join", "items", "last", "length", "count", "list", "lower", "map",
	"max", "min", "pprint", "random", "rejectattr", "reject", "replace", "reverse", "round", "safe",
	"selectattr", "select", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
	"truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"}

// builtinTests are the gonja tests templates may use. sandbox_test.go fails when gonja has a
// test that is not listed.
var builtinTests = []string{"boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==",
	"escaped", "even", "false", "filter", "float", "ge", ">=", "gt", "greaterthan", ">", "in",
	"integer", "iterable", "le", "<=", "lower", "lt", "lessthan", "<", "mapping", "ne", "!=", "none",
	"number", "odd", "sameas", "sequence", "string", "test", "true", "undefined", "upper"}

// builtinGlobals are the gonja global functions templates may call; range is replaced by
// boundedRange. sandbox_test.go fails when gonja has a global that is in neither list.
var builtinGlobals = []string{"cycler", "dict", "joiner", "namespace"}

// refusedGlobals are gonja's globals that templates do not see, with why. Jinja2 has none
// of them but lipsum, whose output is random and unbounded.
var refusedGlobals = map[string]string{
	"lipsum":   "random text of any length",
	"_":        "translations are not part of Jinja2's default environment",
	"gettext":  "translations are not part of Jinja2's default environment",
	"ngettext": "translations are not part of Jinja2's default environment",
	"gonja":    "gonja's version is not a variable in Jinja2",
}

// allowedStatements are the gonja statements templates may use. sandbox_test.go fails when
// gonja has a statement in neither this list nor refusedStatements.
var allowedStatements = []string{"autoescape", "do", "filter", "for", "if", "raw", "set", "with", "break", "continue"}

// refusedStatements are the statements templates may not use, with why. They are parsed
// into an error, with the position of the tag.
var refusedStatements = map[string]string{
	"include": "templates cannot load other templates",
	"import":  "templates cannot load other templates",
	"from":    "templates cannot load other templates",
	"extends": "templates cannot load other templates",
	"macro":   "a macro that calls itself would crash the sender",
	"call":    "macros are not allowed",
	"block":   "a block that renders itself would crash the sender",
	"trans":   "translations are not part of Jinja2's default environment",
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

// sandbox returns the private environment: gonja's filters, tests, statements, globals and
// methods from the lists above, each guarded by the limits, with the private filters.
func sandbox(maxSize int) *exec.Environment {
	ctx := exec.EmptyContext()
	for _, name := range builtinGlobals {
		f, _ := builtins.GlobalFunctions.Get(name)
		ctx.Set(name, f)
	}
	ctx.Set("range", boundedRange)

	filters := exec.NewFilterSet(map[string]exec.FilterFunction{})
	for _, name := range builtinFilters {
		if f, ok := builtins.Filters.Get(name); ok {
			_ = filters.Register(name, guardFilter(f, maxSize))
		}
	}
	for name, escape := range urlEscapes {
		_ = filters.Register(name, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in // a missing variable: the renderer reports it
			}
			return exec.AsSafeValue(escape(in.String()))
		})
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

	tests := exec.NewTestSet(map[string]exec.TestFunction{})
	for _, name := range builtinTests {
		if t, ok := builtins.Tests.Get(name); ok {
			_ = tests.Register(name, t)
		}
	}

	cs := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{})
	for _, name := range allowedStatements {
		if p, ok := builtins.ControlStructures.Get(name); ok {
			_ = cs.Register(name, p)
		}
	}
	for name, why := range refusedStatements {
		_ = cs.Register(name, refusedStatement(name, why))
	}

	m := builtins.Methods
	return &exec.Environment{
		Context:           ctx,
		Filters:           filters,
		Tests:             tests,
		ControlStructures: cs,
		Methods: exec.Methods{
			Str:   guardMethods(m.Str, safeMethods.str, maxSize),
			Dict:  guardMethods(m.Dict, safeMethods.dict, maxSize),
			List:  guardMethods(m.List, safeMethods.list, maxSize),
			Int:   guardMethods(m.Int, safeMethods.number, maxSize),
			Float: guardMethods(m.Float, safeMethods.number, maxSize),
			Bool:  guardMethods(m.Bool, safeMethods.number, maxSize),
		},
	}
}

// refusedStatement parses a statement into an error that says why it is refused.
func refusedStatement(name, why string) parser.ControlStructureParser {
	return func(_ *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		return nil, args.Error(fmt.Sprintf("'%s' is not allowed: %s", name, why), args.Current())
	}
}

// boundedRange is gonja's range() with a limit on the number of items, returning a list
// instead of a channel fed by a goroutine.
func boundedRange(_ *exec.Evaluator, params *exec.VarArgs) ([]int, error) {
	var start, stop, step = 0, 0, 1
	args := params.Args
	for _, a := range args {
		if !a.IsInteger() {
			return nil, errors.New("range() takes integers")
		}
	}
	switch len(args) {
	case 1:
		stop = args[0].Integer()
	case 2:
		start, stop = args[0].Integer(), args[1].Integer()
	case 3:
		start, stop, step = args[0].Integer(), args[1].Integer(), args[2].Integer()
	default:
		return nil, errors.New("range() takes [start, ]stop[, step]")
	}
	if step == 0 {
		return nil, errors.New("range() step cannot be 0")
	}
	n := 0
	switch {
	case step > 0 && stop > start:
		n = (stop - start + step - 1) / step
	case step < 0 && stop < start:
		n = (start - stop - step - 1) / -step
	}
	if n > maxRangeLen || n < 0 {
		return nil, fmt.Errorf("range() of more than %d items", maxRangeLen)
	}
	out := make([]int, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out, nil
}

// budget counts the work of one rendering. It is used by one goroutine at a time.
type budget struct {
	iterations int
	work       int
}

// spend charges n bytes of work, or, with loop, n loop iterations.
func (b *budget) spend(n int, loop bool) error {
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

// charge spends n from the rendering's budget, which it finds in the evaluator's context.
func charge(e *exec.Evaluator, n int, loop bool) error {
	v, _ := e.Environment.Context.Get(budgetKey)
	b, ok := v.(*budget)
	if !ok {
		return errors.New("template cannot change " + budgetKey)
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
