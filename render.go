package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Rendering limits. gonja has no limits of its own: its range builds the whole list in memory.
const (
	// maxRangeLen is the most items range() may produce.
	maxRangeLen = 10000
	// defaultMaxRenderSize bounds the output of one template and the request body.
	defaultMaxRenderSize = 1 << 20
)

// errRenderTooLarge is returned when a template's output passes the size limit.
var errRenderTooLarge = errors.New("output is larger than the limit")

// engine compiles and renders templates in a private gonja environment: gonja's package-level
// configuration, loader and filter sets are never used or changed.
type engine struct {
	cfg     *config.Config
	env     *exec.Environment
	maxSize int
}

// Private filters that escape a value for its position in a URL. They are registered only in
// the engine's own filter set.
const (
	filterURLAuthority = "_url_authority"
	filterURLPath      = "_url_path"
	filterURLQuery     = "_url_query"
	filterURLFragment  = "_url_fragment"
)

// urlEscapes are the escape functions of the private URL filters.
var urlEscapes = map[string]func(string) string{
	filterURLAuthority: escapeAuthority,
	filterURLPath:      escapePathSegment,
	filterURLQuery:     url.QueryEscape,
	filterURLFragment:  url.PathEscape,
}

// newEngine returns an engine. With missingAsEmpty, missing variables render as empty instead
// of failing.
func newEngine(missingAsEmpty bool) *engine {
	cfg := config.New()
	cfg.StrictUndefined = !missingAsEmpty

	ctx := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	ctx.Set("range", boundedRange)

	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
	for name, escape := range urlEscapes {
		// Register cannot fail: the names are new to the set.
		_ = filters.Register(name, func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in // a missing variable: the renderer reports it
			}
			return exec.AsSafeValue(escape(in.String()))
		})
	}

	cs := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{}).Update(builtins.ControlStructures)
	for _, name := range []string{"include", "import", "from", "extends"} {
		_ = cs.Replace(name, forbiddenStatement(name, "templates cannot load other templates"))
	}

	return &engine{
		cfg: cfg,
		env: &exec.Environment{
			Context:           ctx,
			Filters:           filters,
			Tests:             exec.NewTestSet(map[string]exec.TestFunction{}).Update(builtins.Tests),
			ControlStructures: cs,
			Methods:           limitEnvironment(filters, cs, defaultMaxRenderSize),
		},
		maxSize: defaultMaxRenderSize,
	}
}

// forbiddenStatement parses a statement that would load another template into an error:
// templates come from messages only, never from disk or other templates.
func forbiddenStatement(name, why string) parser.ControlStructureParser {
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

// template is one compiled template.
type template struct {
	path   string
	t      *exec.Template
	loader loaders.Loader
	// single is the template's only node when it is exactly one {{ expression }}; a JSON
	// body keeps the type of such a value.
	single *nodes.Output
	// simple is set when the template is only literal text and variable lookups, parts: it
	// is then rendered without gonja unless a variable is missing (see render and value).
	simple bool
	parts  []part
}

// compileTemplate compiles src, adding any problem to ps under path. It returns nil if there
// were problems.
func (e *engine) compileTemplate(path, src string, ps *problems) (tmpl *template) {
	if len(src) > maxTemplateLen {
		ps.add(path, "template is longer than %d bytes", maxTemplateLen)
		return nil
	}
	if !utf8.ValidString(src) {
		// gonja's lexer can loop for ever, allocating, on some invalid UTF-8.
		ps.add(path, "template is not valid UTF-8")
		return nil
	}
	if lexerTrap(src) {
		ps.add(path, "a number, '.' and a non-ASCII character in a tag cannot be parsed safely; put a space after the '.'")
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			ps.add(path, "template cannot be parsed: %v", r)
			tmpl = nil
		}
	}()
	const name = "/template"
	loader, err := loaders.NewMemoryLoader(map[string]string{name: src})
	if err != nil {
		ps.add(path, "%v", err)
		return nil
	}
	t, err := exec.NewTemplate(name, e.cfg, loader, e.env)
	if err != nil {
		ps.add(path, "%s", syntaxMessage(err))
		return nil
	}
	before := len(*ps)
	e.checkNames(path, t.Root(), ps)
	limitTemplate(path, t.Root(), ps)
	if len(*ps) > before {
		return nil
	}
	tmpl = &template{path: path, t: t, loader: loader}
	if root := t.Root(); len(root.Nodes) == 1 {
		tmpl.single, _ = root.Nodes[0].(*nodes.Output)
	}
	tmpl.parts, tmpl.simple = simpleParts(t.Root())
	return tmpl
}

// syntaxMessage turns a gonja compile error into "line L col C: message", leaving out the
// template source that gonja puts in its error text (a URL may hold a password).
func syntaxMessage(err error) string {
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		if se.Line > 0 {
			return fmt.Sprintf("line %d col %d: %s", se.Line, se.Column, se.Message)
		}
		return se.Message
	}
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return "template cannot be parsed"
}

var (
	filterCallType = reflect.TypeFor[*nodes.FilterCall]()
	testCallType   = reflect.TypeFor[*nodes.TestCall]()
)

// checkNames reports every filter and test the template uses that the environment does not
// have. gonja itself finds them only when it renders the branch that uses them.
func (e *engine) checkNames(path string, root *nodes.Template, ps *problems) {
	walkTree(reflect.ValueOf(root), func(v reflect.Value) {
		if v.Kind() != reflect.Pointer {
			return
		}
		switch v.Type() {
		case filterCallType:
			if name := v.Elem().FieldByName("Name").String(); !e.env.Filters.Exists(name) {
				ps.add(path, "%s: unknown filter '%s'", tokenPosition(v.Elem().FieldByName("Token")), name)
			}
		case testCallType:
			if name := v.Elem().FieldByName("Name").String(); !e.env.Tests.Exists(name) {
				ps.add(path, "%s: unknown test '%s'", tokenPosition(v.Elem().FieldByName("Token")), name)
			}
		}
	})
}

// tokenPosition formats the position of a *tokens.Token held in v.
func tokenPosition(v reflect.Value) string {
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return "unknown position"
	}
	return fmt.Sprintf("line %d col %d", v.Elem().FieldByName("Line").Int(), v.Elem().FieldByName("Col").Int())
}

// urlPosition is where in a URL a substituted value lands.
type urlPosition int

const (
	urlStart     urlPosition = iota // before "://": the value is the base URL itself
	urlAuthority                    // user info, host and port
	urlPath
	urlQuery
	urlFragment
)

var urlFilters = [...]string{
	urlAuthority: filterURLAuthority,
	urlPath:      filterURLPath,
	urlQuery:     filterURLQuery,
	urlFragment:  filterURLFragment,
}

// compileURL compiles a URL template and makes every value substituted into it escaped for its
// position, which is read from the literal text before it.
func (e *engine) compileURL(src string, ps *problems) *template {
	if src == "" {
		ps.add("url", "required")
		return nil
	}
	if len(src) > maxURLLen {
		ps.add("url", "longer than %d bytes", maxURLLen)
		return nil
	}
	t := e.compileTemplate("url", src, ps)
	if t == nil {
		return nil
	}
	t.single = nil
	pos := urlStart
	literal := "" // the literal text the URL starts with, before any value
	ok := true
	valueSeen := false
	for _, n := range t.t.Root().Nodes {
		switch n := n.(type) {
		case *nodes.Data:
			text := n.Data.Val
			if i := strings.IndexFunc(text, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
				ps.add("url", "line %d col %d: spaces and control characters must be percent-encoded", n.Data.Line, n.Data.Col+i)
				ok = false
			}
			if pos == urlStart && !valueSeen {
				literal += text
			}
			pos = advanceURLPosition(pos, text)
		case *nodes.Output:
			if pos == urlStart && literal != "" {
				// A value right after a literal scheme, as in "https://{{ host }}", is in the
				// authority; one right at the start is the base URL itself.
				pos = urlAuthority
			}
			valueSeen = true
			if pos != urlStart {
				n.Expression = escapeExpression(n.Expression, urlFilters[pos], n.Start)
				if n.Alternative != nil {
					n.Alternative = escapeExpression(n.Alternative, urlFilters[pos], n.Start)
				}
			}
		case *nodes.Comment:
		default:
			ps.add("url", "%s: statements ({%% ... %%}) are not allowed in a URL; use an inline if: {{ 'a' if cond else 'b' }}",
				tokenPosition(reflect.ValueOf(n.Position())))
			ok = false
		}
	}
	if i := strings.Index(literal, "://"); i >= 0 {
		if scheme := strings.ToLower(literal[:i]); scheme != "http" && scheme != "https" {
			ps.add("url", "scheme %q is not http or https", literal[:i])
			ok = false
		}
	} else if literal != "" {
		ps.add("url", "must start with http:// or https://")
		ok = false
	}
	validateURLHost(literal, !valueSeen, ps)
	if !ok {
		return nil
	}
	t.parts, t.simple = simpleParts(t.t.Root()) // again, with the escaping filters
	return t
}

// advanceURLPosition returns the position after the literal URL text s.
func advanceURLPosition(pos urlPosition, s string) urlPosition {
	if pos == urlStart {
		i := strings.Index(s, "://")
		if i < 0 {
			return urlStart
		}
		pos, s = urlAuthority, s[i+3:]
	}
	for _, c := range []byte(s) {
		switch {
		case c == '#':
			return urlFragment
		case c == '?' && pos < urlQuery:
			pos = urlQuery
		case c == '/' && pos == urlAuthority:
			pos = urlPath
		}
	}
	return pos
}

func escapeExpression(expr nodes.Expression, filter string, at *tokens.Token) nodes.Expression {
	return &nodes.FilteredExpression{
		Expression: expr,
		Filters:    []*nodes.FilterCall{{Token: at, Name: filter}},
	}
}

// escapePathSegment escapes s as one path segment: it can neither add a segment ("/") nor
// climb out of one ("." and "..").
func escapePathSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// escapeAuthority percent-encodes everything in s but the characters of a host, a port and
// an IPv6 literal, so a value can neither end the authority nor add user info.
func escapeAuthority(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:[]", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// vars are the variables of one rendering.
type vars struct {
	user    User
	params  Map
	event   *Event // nil when the delivery was not triggered by an event
	message *Message
	now     time.Time
}

// records are the variables whose fields are read from the delivery (see vars.field), with
// their fields.
var records = map[string][]string{
	"user":    {"id", "test", "email", "timezone", "locale", "country", "region", "city", "created_at", "last_active"},
	"message": {"id", "name", "version"},
	"event":   {"id", "name", "time", "params"},
}

// field returns the field key of the record variable root, and whether the template context
// has it: the user's optional fields are left out when empty, and event when there is none.
func (v *vars) field(root, key string) (any, bool) {
	u := &v.user
	switch root + "." + key {
	case "user.id":
		return u.ID, true
	case "user.test":
		return u.Test, true
	case "user.email":
		return u.Email, u.Email != ""
	case "user.timezone":
		return u.TimeZone, u.TimeZone != ""
	case "user.locale":
		return u.Locale, u.Locale != ""
	case "user.country":
		return u.Country, u.Country != ""
	case "user.region":
		return u.Region, u.Region != ""
	case "user.city":
		return u.City, u.City != ""
	case "user.created_at":
		return optionalTime(u.CreatedAt)
	case "user.last_active":
		return optionalTime(u.LastActive)
	case "message.id":
		return v.message.ID, true
	case "message.name":
		return v.message.Name, true
	case "message.version":
		return v.message.Version, true
	}
	if e := v.event; root == "event" && e != nil {
		switch key {
		case "id":
			return e.ID, true
		case "name":
			return e.Name, true
		case "time":
			return formatTime(e.Time), true
		case "params":
			return map[string]any(v.params), true
		}
	}
	return nil, false
}

// formatTime formats t as templates see times.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// optionalTime formats t, which is left out of the context when it is zero.
func optionalTime(t time.Time) (any, bool) {
	if t.IsZero() {
		return nil, false
	}
	return formatTime(t), true
}

// context builds the gonja context for v. Maps and lists are copied, so a template that
// assigns into them ({% set parameter.a.b = 1 %}) cannot change the stored user or event.
func (v *vars) context() *exec.Context {
	params := cloneMap(v.params)
	data := map[string]any{
		"userAttribute": cloneMap(v.user.Attributes),
		"parameter":     params,
		"now":           formatTime(v.now),
		budgetKey:       &renderBudget{},
	}
	for root, keys := range records {
		m := make(map[string]any, len(keys))
		for _, k := range keys {
			if x, ok := v.field(root, k); ok {
				m[k] = x
			}
		}
		if len(m) > 0 {
			data[root] = m
		}
	}
	if e, ok := data["event"].(map[string]any); ok {
		e["params"] = params
	}
	return exec.NewContext(data)
}

func cloneMap(m Map) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// rendering is the rendering of one delivery's templates: their variables and the gonja
// context they share, built when the first template that needs gonja renders.
type rendering struct {
	vars *vars
	ctx  *exec.Context
}

// context returns the rendering's gonja context.
func (r *rendering) context() *exec.Context {
	if r.ctx == nil {
		r.ctx = r.vars.context()
	}
	return r.ctx
}

// render renders t to a string.
func (e *engine) render(t *template, r *rendering) (string, error) {
	if t.simple {
		if s, ok := t.renderSimple(r.vars, e.maxSize); ok {
			return s, nil
		}
	}
	return e.execute(t, r.context())
}

// execute renders t to a string with gonja.
func (e *engine) execute(t *template, ctx *exec.Context) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &RenderError{Path: t.path, Err: fmt.Errorf("template failed: %v", r)}
		}
	}()
	w := &cappedWriter{max: e.maxSize}
	if err := t.t.Execute(w, ctx); err != nil {
		return "", &RenderError{Path: t.path, Err: executionError(err)}
	}
	return w.b.String(), nil
}

// value renders t for a JSON body: a template that is one expression keeps its value's type,
// any other renders to a string.
func (e *engine) value(t *template, r *rendering) (v any, err error) {
	if t.single == nil {
		return e.render(t, r)
	}
	if t.simple {
		if x, ok := r.vars.lookup(t.parts[0].path); ok {
			return plainValue(x), nil // gonja's value of x holds x itself
		}
	}
	return e.evaluate(t, r.context())
}

// evaluate evaluates t, which is one expression, with gonja.
func (e *engine) evaluate(t *template, ctx *exec.Context) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &RenderError{Path: t.path, Err: fmt.Errorf("template failed: %v", r)}
		}
	}()
	ev := &exec.Evaluator{
		Config: e.cfg,
		Loader: t.loader,
		Environment: &exec.Environment{
			Context:           e.env.Context.Inherit().Update(ctx),
			Filters:           e.env.Filters,
			Tests:             e.env.Tests,
			ControlStructures: e.env.ControlStructures,
			Methods:           e.env.Methods,
		},
	}
	out := t.single
	expr := out.Expression
	if out.Condition != nil {
		c := ev.Eval(out.Condition)
		if c.IsError() {
			return nil, &RenderError{Path: t.path, Err: expressionError(out.Condition, c)}
		}
		if !c.IsTrue() {
			if out.Alternative == nil {
				return "", nil
			}
			expr = out.Alternative
		}
	}
	val := ev.Eval(expr)
	if val.IsError() {
		return nil, &RenderError{Path: t.path, Err: expressionError(expr, val)}
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
		out := make(orderedObject, len(v.Pairs))
		for i, p := range v.Pairs {
			out[i] = member{p.Key.String(), plainValue(p.Value)}
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

// orderedObject is a dict a template built: a JSON object that keeps its keys' order.
type orderedObject []member

type member struct {
	key   string
	value any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(m.key); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode ends each value with a newline
		b.WriteByte(':')
		if err := enc.Encode(m.value); err != nil {
			return nil, fmt.Errorf("%q: %w", m.key, err)
		}
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// cappedWriter is a strings.Builder that refuses to grow past max bytes.
type cappedWriter struct {
	b   strings.Builder
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, errRenderTooLarge
	}
	return w.b.Write(p)
}

func (w *cappedWriter) WriteString(s string) (int, error) {
	if w.b.Len()+len(s) > w.max {
		return 0, errRenderTooLarge
	}
	return w.b.WriteString(s)
}

var (
	reRenderLine  = regexp.MustCompile(`at line (\d+)`)
	reMissingName = regexp.MustCompile(`Unable to evaluate name "([^"]*)"`)
	reMissingItem = regexp.MustCompile(`^.*[Uu]nable to evaluate (.+?): (?:item|attribute) '.*' not found`)
	reNoise       = regexp.MustCompile(`^(?:unable to execute template: )?(?:Unable to (?:render expression|execute controlStructure) at line \d+: (?:\w+ControlStructure\([^)]*\): )?)*`)
)

// executionError turns a gonja execution error into a short error that says which line failed
// and, for a missing variable, which variable; it wraps ErrMissingVariable for those.
func executionError(err error) error {
	if errors.Is(err, errRenderTooLarge) {
		return fmt.Errorf("%w (%d bytes)", errRenderTooLarge, defaultMaxRenderSize)
	}
	msg := err.Error()
	line := 0
	if m := reRenderLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return describeError(line, msg)
}

// expressionError describes the error value val of evaluating expr.
func expressionError(expr nodes.Expression, val *exec.Value) error {
	line := 0
	if p := expr.Position(); p != nil {
		line = p.Line
	}
	return describeError(line, val.Error())
}

func describeError(line int, msg string) error {
	msg = rePrivateFilter.ReplaceAllString(msg, "")
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
		return fmt.Errorf("%s%w %s: give it a fallback with | default(...)", prefix, ErrMissingVariable, name)
	}
	return errors.New(prefix + reNoise.ReplaceAllString(msg, ""))
}
