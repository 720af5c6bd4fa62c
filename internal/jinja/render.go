package jinja

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
)

// Vars are the variables templates see. The caller implements them.
type Vars interface {
	// Lookup returns the value at path, such as [user id] for {{ user.id }}, and true; or
	// false if Data has nothing there. It may also report false for a value that is there:
	// the template is then rendered with Data. It must not change anything.
	Lookup(path []string) (any, bool)
	// Data returns every variable, by name, in a map of the caller's values (strings,
	// numbers, bools, nil, []any, map[string]any and such). The map and what it holds belong
	// to the rendering from then on: a template that assigns into a value
	// ({% set parameter.a = 1 %}) changes it, so Data should return copies.
	Data() map[string]any
}

// Scope is one rendering of one or more templates with the same variables: they share a work
// budget and the variables' data, built from [Vars.Data] when the first template that needs
// gonja renders. A Scope is used by one goroutine at a time.
type Scope struct {
	vars   Vars
	ctx    *exec.Context
	budget budget
}

// NewScope returns a Scope for rendering with v.
func NewScope(v Vars) *Scope {
	return &Scope{vars: v}
}

// context returns the gonja context of s.
func (s *Scope) context() *exec.Context {
	if s.ctx == nil {
		data := s.vars.Data()
		data[budgetKey] = &s.budget
		s.ctx = exec.NewContext(data)
	}
	return s.ctx
}

// errTooLarge is returned when a template's output passes the size limit.
var errTooLarge = errors.New("output is larger than the limit")

// Render renders t to a string. Its error says which line failed and why, and wraps
// [Options.Undefined] for a missing variable.
func (t *Template) Render(s *Scope) (string, error) {
	if t.simple && t.env.fast {
		if out, ok := t.renderFast(s); ok {
			return out, nil
		}
	}
	return t.execute(s.context())
}

// Literal returns what t renders to when it is only text, with no expression or statement
// (comments aside), and reports whether it is: such a template renders the same with any
// variables. With Options.NoFastPath it reports none, so that every rendering is gonja's.
func (t *Template) Literal() (string, bool) {
	if !t.simple || !t.env.fast {
		return "", false
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.path != nil {
			return "", false
		}
		b.WriteString(p.text)
	}
	if b.Len() > t.env.maxSize {
		return "", false // it fails to render
	}
	return b.String(), true
}

// execute renders t to a string with gonja.
func (t *Template) execute(ctx *exec.Context) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template failed: %v", r)
		}
	}()
	w := &cappedWriter{max: t.env.maxSize}
	if err := t.t.Execute(w, ctx); err != nil {
		return "", t.env.executionError(err)
	}
	return w.b.String(), nil
}

// Value renders t for a JSON value: a template that is one expression ({{ x }}) gives its
// value, with its type: a string, a number, a bool, nil, []any, map[string]any or, for a
// dict the template built, an [Object]. Any other template gives its rendering as a string.
func (t *Template) Value(s *Scope) (any, error) {
	if t.single == nil {
		return t.Render(s)
	}
	if t.simple && t.env.fast {
		if x, work, ok := t.parts[0].value(s, t.env.missingAsEmpty, t.env.maxSize); ok && s.budget.charge(work) {
			return plainValue(x), nil // gonja's value of x holds x itself
		}
	}
	return t.evaluate(s.context())
}

// evaluate evaluates t, which is one expression, with gonja.
func (t *Template) evaluate(ctx *exec.Context) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template failed: %v", r)
		}
	}()
	env := t.env.env
	ev := &exec.Evaluator{
		Config: t.env.cfg,
		Loader: t.loader,
		Environment: &exec.Environment{
			Context:           env.Context.Inherit().Update(ctx),
			Filters:           env.Filters,
			Tests:             env.Tests,
			ControlStructures: env.ControlStructures,
			Methods:           env.Methods,
		},
	}
	out := t.single
	expr := printed(out.Expression)
	if out.Condition != nil {
		c := ev.Eval(out.Condition)
		if c.IsError() {
			return nil, t.env.expressionError(out.Condition, c)
		}
		if !c.IsTrue() {
			if out.Alternative == nil {
				return "", nil
			}
			expr = printed(out.Alternative)
		}
	}
	val := ev.Eval(expr)
	if val.IsError() {
		return nil, t.env.expressionError(expr, val)
	}
	return plainValue(val.Interface()), nil
}

// plainValue unwraps the gonja values inside lists and dicts a template built.
func plainValue(v any) any {
	switch v := v.(type) {
	case *exec.Value:
		if v.IsNil() {
			return nil
		}
		return plainValue(v.Interface())
	case exec.ValuesList:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plainValue(e)
		}
		return out
	case *exec.Dict:
		out := make(Object, len(v.Pairs))
		for i, p := range v.Pairs {
			out[i] = Member{p.Key.String(), plainValue(p.Value)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plainValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = plainValue(e)
		}
		return out
	}
	return v
}

// Object is a JSON object that keeps its members' order: a dict a template built.
type Object []Member

// Member is one member of an [Object].
type Member struct {
	Key   string
	Value any
}

// MarshalJSON encodes o as a JSON object, its members in order, without escaping HTML.
func (o Object) MarshalJSON() ([]byte, error) {
	size := 2 // a guess: the keys, quoted, and 16 bytes a value
	for _, m := range o {
		size += len(m.Key) + 20
	}
	b := make([]byte, 0, size)
	var err error
	b = append(b, '{')
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		if out, ok := appendPlainString(b, m.Key); ok {
			b = out
		} else if b, err = appendJSON(b, m.Key); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if out, ok := appendPlainJSON(b, m.Value); ok {
			b = out
		} else if b, err = appendJSON(b, m.Value); err != nil {
			return nil, fmt.Errorf("%q: %w", m.Key, err)
		}
	}
	return append(b, '}'), nil
}

// appendJSON appends the JSON encoding of v to b, without escaping HTML.
func appendJSON(b []byte, v any) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, out.Bytes()[:out.Len()-1]...), nil // Encode ends each value with a newline
}

// appendPlainJSON appends to b the JSON encoding of v, the same as encoding/json's without
// HTML escaping, and reports whether it did, for the values that need neither reflection nor
// escaping: nil, booleans, ints, int64s and the strings appendPlainString writes.
func appendPlainJSON(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, v), true
	case int:
		return strconv.AppendInt(b, int64(v), 10), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case string:
		return appendPlainString(b, v)
	}
	return b, false
}

// appendPlainString appends s to b as a JSON string, and reports whether it did, when s is
// printable ASCII but '"' and '\', which encoding/json writes as they are.
func appendPlainString(b []byte, s string) ([]byte, bool) {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// cappedWriter is a strings.Builder that refuses to grow past max bytes.
type cappedWriter struct {
	b   strings.Builder
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, errTooLarge
	}
	return w.b.Write(p)
}

func (w *cappedWriter) WriteString(s string) (int, error) {
	if w.b.Len()+len(s) > w.max {
		return 0, errTooLarge
	}
	return w.b.WriteString(s)
}

var (
	reRenderLine  = regexp.MustCompile(`at line (\d+)`)
	reMissingName = regexp.MustCompile(`Unable to evaluate name "([^"]*)"`)
	reMissingItem = regexp.MustCompile(`^.*[Uu]nable to evaluate (.+?): (?:item|attribute) '.*' not found`)
	reNoise       = regexp.MustCompile(`^(?:unable to execute template: )?(?:Unable to (?:render expression|execute controlStructure) at line \d+: (?:\w+ControlStructure\([^)]*\): )?)*`)
	// rePrivateFilter matches what gonja says around an error from a private filter.
	rePrivateFilter = regexp.MustCompile(`[^:\s][^:]*?filtered_expression\(.*?\): |unable to evaluate filter &\{<Token\[\w+\] Val='' Pos=\d+ Line=\d+ Col=\d+> _\w+ \[.*?\] map\[\]\}: (?:invalid call to filter '_\w+': )?`)
)

// executionError turns a gonja execution error into a short error that says which line failed
// and, for a missing variable, which variable.
func (e *Env) executionError(err error) error {
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("%w (%d bytes)", errTooLarge, e.maxSize)
	}
	line := 0
	if m := reRenderLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return e.describeError(line, err)
}

// expressionError describes the error value val of evaluating expr.
func (e *Env) expressionError(expr nodes.Expression, val *exec.Value) error {
	line := 0
	if p := expr.Position(); p != nil {
		line = p.Line
	}
	return e.describeError(line, val)
}

// describeError describes err, which happened at line (0 if unknown): for a missing variable,
// which one, wrapping e.undefined; for an error the sandbox raised, its message; otherwise
// gonja's message without what it says of the sandbox's rewriting.
func (e *Env) describeError(line int, err error) error {
	msg := rePrivateFilter.ReplaceAllString(err.Error(), "")
	prefix := ""
	if line > 0 {
		prefix = fmt.Sprintf("line %d: ", line)
	}
	name := ""
	if m := reMissingName.FindStringSubmatch(msg); m != nil {
		name = m[1]
	} else if m := reMissingItem.FindStringSubmatch(msg); m != nil {
		name = m[1]
	}
	if name != "" {
		// The sentinel's text without its package's prefix ("webhook: missing variable").
		what := e.undefined.Error()
		if i := strings.LastIndex(what, ": "); i >= 0 {
			what = what[i+2:]
		}
		return &wrapped{prefix + what + " " + unfiltered(name) + ": give it a fallback with | default(...)", e.undefined}
	}
	if te := cause(err); te != nil {
		return errors.New(prefix + te.Error())
	}
	return errors.New(prefix + reNoise.ReplaceAllString(msg, ""))
}

// wrapped is an error with a text of its own that wraps err.
type wrapped struct {
	text string
	err  error
}

func (w *wrapped) Error() string { return w.text }

func (w *wrapped) Unwrap() error { return w.err }

// cause returns the innermost error the sandbox raised in err's chain, which goes through
// gonja's values and wrappings, or nil.
func cause(err error) error {
	var found error
	for err != nil {
		var te *pyError
		if errors.As(err, &te) {
			found = te
		}
		if v, ok := err.(*exec.Value); ok {
			err, _ = v.Interface().(error)
			continue
		}
		err = errors.Unwrap(err)
	}
	return found
}

// unfiltered returns the name of a variable as the template wrote it: without the
// "filtered_expression(...)" that gonja writes for an expression the sandbox wrapped.
func unfiltered(name string) string {
	const wrap = "filtered_expression("
	for {
		i := strings.Index(name, wrap)
		if i < 0 {
			return name
		}
		depth, end := 1, i+len(wrap)
		for ; end < len(name) && depth > 0; end++ {
			switch name[end] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth > 0 {
			return name
		}
		name = name[:i] + name[i+len(wrap):end-1] + name[end:]
	}
}
