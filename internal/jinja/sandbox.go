package jinja

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlstructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
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

// Private filters that the template rewriter puts around printed values, operators and loop
// iterables, and the name of the rendering's budget in the gonja context.
const (
	filterPrint     = "_print"
	filterBinop     = "_binop"
	filterTuple     = "_tuple"
	filterList      = "_list"
	filterDict      = "_dict"
	filterNot       = "_not"
	filterPlus      = "_plus"
	filterMinus     = "_minus"
	filterSubscript = "_subscript"
	filterLoopVar   = "_loop_var"
	filterLoop      = "_loop"
	budgetKey       = "_hookline_budget"
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

// replacedStatements are the statements parsed by the sandbox's own parsers.
var replacedStatements = map[string]parser.ControlStructureParser{
	"macro": parseMacro, "call": parseCall,
	"include": parseSnippetUse("include"), "import": parseSnippetUse("import"), "from": parseSnippetUse("from"),
}

// refusedStatements are the statements templates may not use, with why. They are parsed
// into an error, with the position of the tag.
var refusedStatements = map[string]string{
	"extends": "templates cannot load other templates",
	"block":   "a block that renders itself would crash the sender",
	"trans":   "translations are not part of Jinja2's default environment",
}

// safeMethods are the methods templates may call on values other than strings (whose methods
// are strMethods). Methods that change a list or a dict in place (append, update, pop,
// setdefault, clear, reverse) are left out, as Jinja's immutable sandbox does: with them a
// template could build a value that contains itself.
var safeMethods = struct{ dict, list, number []string }{
	dict:   []string{"keys", "values", "items", "get", "copy"},
	list:   []string{"copy"},
	number: []string{"is_integer", "bit_length", "bit_count", "as_integer_ratio", "hex", "string", "int"},
}

// sandbox returns the private environment: gonja's filters, tests, statements, globals and
// methods from the lists above, each guarded by the limits, with the private filters.
func sandbox(maxSize int, missingAsEmpty bool) *exec.Environment {
	ctx := exec.EmptyContext()
	for _, name := range builtinGlobals {
		f, _ := builtins.GlobalFunctions.Get(name)
		ctx.Set(name, f)
	}
	ctx.Set("range", boundedRange)
	ctx.Set("none", nil) // Jinja2 spells None, True and False in lower case too; gonja knows only true and false

	filters := exec.NewFilterSet(map[string]exec.FilterFunction{})
	replaced := jinja2Filters(missingAsEmpty)
	for _, name := range builtinFilters {
		f, ok := replaced[name]
		switch {
		case !ok:
			f, _ = builtins.Filters.Get(name)
		case name != "default" && name != "d":
			f = propagate(f)
		}
		if slices.Contains(strInputFilters, name) {
			f = strInput(f, missingAsEmpty)
		}
		_ = filters.Register(name, guardFilter(f, maxSize))
	}
	for name, escape := range urlEscapes {
		_ = filters.Register(name, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in // a missing variable: the renderer reports it
			}
			return exec.AsSafeValue(escape(in.String()))
		})
	}
	_ = filters.Register(filterPrint, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		return printValue(in, missingAsEmpty, maxSize)
	})
	_ = filters.Register(filterBinop, func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		if len(params.Args) != 2 || !params.Args[0].IsString() {
			return exec.AsValue(errors.New(filterBinop + " takes an operator and an operand"))
		}
		return binop(e, params.Args[0].String(), in, params.Args[1], maxSize, missingAsEmpty)
	})
	_ = filters.Register(filterNot, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		return exec.AsValue(!in.IsTrue()) // gonja's not of an int is an int
	})
	for name, sign := range map[string]int{filterPlus: 1, filterMinus: -1} {
		_ = filters.Register(name, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			return unary(in, sign)
		})
	}
	_ = filters.Register(filterDict, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		return dictLiteral(in)
	})
	_ = filters.Register(filterList, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		return listLiteral(in)
	})
	_ = filters.Register(filterTuple, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		return toTuple(in)
	})
	_ = filters.Register(filterLoopVar, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if li, ok := in.Interface().(*controlstructures.LoopInfos); ok {
			return exec.AsValue(loopVar{li})
		}
		return in
	})
	_ = filters.Register(filterSubscript, func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsError() || len(params.Args) != 1 {
			return in
		}
		return subscript(in, params.Args[0])
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
	for name, t := range jinja2Tests(filters, tests) {
		_ = tests.Replace(name, t)
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
	for name, p := range replacedStatements {
		_ = cs.Register(name, p)
	}

	m := builtins.Methods
	return &exec.Environment{
		Context:           ctx,
		Filters:           filters,
		Tests:             tests,
		ControlStructures: cs,
		Methods: exec.Methods{
			Str:   guardMethods(pyStrMethods(maxSize), maxSize),
			Dict:  guardMethods(dictMethods(m.Dict), maxSize),
			List:  guardMethods(pick(m.List, safeMethods.list), maxSize),
			Int:   guardMethods(pick(m.Int, safeMethods.number), maxSize),
			Float: guardMethods(pick(m.Float, safeMethods.number), maxSize),
			Bool:  guardMethods(pick(m.Bool, safeMethods.number), maxSize),
		},
	}
}

// propagate wraps a filter so that an error in its input is its result: only default looks
// at errors (missing variables).
func propagate(f exec.FilterFunction) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		return f(e, in, params)
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
	calls      int // macro calls in all
	depth      int // macro calls under way
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

// pick returns the named methods of set.
func pick[I any](set *exec.MethodSet[I], names []string) map[string]exec.Method[I] {
	out := map[string]exec.Method[I]{}
	for _, name := range names {
		if f, ok := set.Get(name); ok {
			out[name] = f
		}
	}
	return out
}

// dictMethods returns the methods of dicts: gonja's safe ones, with items giving tuples.
func dictMethods(set *exec.MethodSet[map[string]any]) map[string]exec.Method[map[string]any] {
	out := pick(set, safeMethods.dict)
	out["items"] = func(_ map[string]any, self *exec.Value, args *exec.VarArgs) (any, error) {
		if len(args.Args)+len(args.KwArgs) > 0 {
			return nil, pyErrorf("items() takes no arguments")
		}
		return itemTuples(self), nil
	}
	return out
}

// pyStrMethods returns strMethods as methods of strings.
func pyStrMethods(maxSize int) map[string]exec.Method[string] {
	out := map[string]exec.Method[string]{}
	for name, f := range strMethods {
		out[name] = func(self string, _ *exec.Value, args *exec.VarArgs) (any, error) {
			return f(self, args.Args, args.KwArgs, maxSize)
		}
	}
	return out
}

// guardMethods returns a method set of methods, each refusing inputs and arguments that could
// make it produce too much, and a result that is too large.
func guardMethods[I any](methods map[string]exec.Method[I], maxSize int) *exec.MethodSet[I] {
	out := map[string]exec.Method[I]{}
	for name, f := range methods {
		out[name] = func(self I, selfValue *exec.Value, args *exec.VarArgs) (any, error) {
			if _, err := checkCall(selfValue, args, maxSize); err != nil {
				return nil, err
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

// checkCall returns the size of a call's input, or an error if the input is larger than
// maxSize or the input's size times its arguments' (an integer counting as its value) is
// more than maxAmplification.
func checkCall(in *exec.Value, params *exec.VarArgs, maxSize int) (int, error) {
	n := measure(in, maxSize)
	if n > maxSize {
		return 0, fmt.Errorf("input is larger than %d bytes", maxSize)
	}
	if max(n, 1)*argsSize(params) > maxAmplification {
		return 0, fmt.Errorf("input and arguments could produce more than %d bytes", maxAmplification)
	}
	return n, nil
}

// argsSize returns the size of a call's arguments as checkCall counts them: one, plus an
// integer's value, a float's integer part or the size of any other argument, at most
// maxAmplification+1.
func argsSize(params *exec.VarArgs) int {
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
	return args
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
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
