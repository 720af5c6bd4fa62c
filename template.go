package webhook

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookline/webhook/internal/jinja"
)

// defaultMaxRenderSize bounds the output of one template and the request body.
const defaultMaxRenderSize = jinja.DefaultMaxSize

// engine compiles and renders a message's templates in the template sandbox
// (internal/jinja), which owns everything about gonja.
type engine struct {
	env     *jinja.Env
	maxSize int
}

// newEngine returns an engine. With missingAsEmpty, missing variables render as empty instead
// of failing.
func newEngine(missingAsEmpty bool) *engine {
	return &engine{
		env:     jinja.New(jinja.Options{MissingAsEmpty: missingAsEmpty, MaxSize: defaultMaxRenderSize, Undefined: ErrMissingVariable}),
		maxSize: defaultMaxRenderSize,
	}
}

// template is one compiled template of a message, with the path of its field.
type template struct {
	path string
	t    *jinja.Template
	// fixed is, for a URL template that is only text, the URL it renders to, parsed once;
	// nil for any other template.
	fixed *fixedURL
}

// fixedURL is a URL template's only rendering, parsed (see parseRenderedURL).
type fixedURL struct {
	u    url.URL // without user info
	auth string  // the Authorization value of the user info, or empty
	url  string  // u as a string
	host string  // urlHost(&u)
}

// sources say how the templates of a message are read: the dialect they are written in, and
// where the snippets they load come from. A nil *sources reads the library's own templates,
// with no snippets.
type sources struct {
	dialect    *dialect // nil for the library's own variables
	dialectErr string   // why Message.Dialect is not one, if it is not
	// lib holds the snippets templates load; nil checks the statements that load them only.
	lib jinja.Library
}

// translate returns src in the library's template language, and how to tell the positions in
// a problem with it as positions in src. A problem with src itself, which only a dialect
// finds, is added to ps under path, and then it returns false.
func (in *sources) translate(path, src string, ps *problems) (string, func(string) string, bool) {
	if in == nil || in.dialect == nil {
		return src, func(msg string) string { return msg }, true
	}
	out, remap, errs := in.dialect.translate(src)
	for _, msg := range errs {
		ps.add(path, "%s", msg)
	}
	return out, remap, len(errs) == 0
}

// compileTemplate compiles src, adding any problem to ps under path. It returns nil if there
// were problems.
func (e *engine) compileTemplate(path, src string, in *sources, ps *problems) *template {
	if len(src) > maxTemplateLen {
		ps.add(path, "template is longer than %d bytes", maxTemplateLen)
		return nil
	}
	src, remap, ok := in.translate(path, src, ps)
	if !ok {
		return nil
	}
	var lib jinja.Library
	if in != nil {
		lib = in.lib
	}
	t, msgs := e.env.CompileWith(src, lib)
	return newTemplate(path, t, remapAll(msgs, remap), ps)
}

// compileSnippet returns the problems of src, the source of the snippet name, as a template
// that loads the snippets of lib.
func (e *engine) compileSnippet(name, src string, lib jinja.Library) []string {
	if len(src) > maxTemplateLen {
		return []string{fmt.Sprintf("template is longer than %d bytes", maxTemplateLen)}
	}
	_, msgs := e.env.CompileSnippet(name, src, lib)
	return msgs
}

// compileURL compiles the URL template at path, whose values are escaped for their
// positions, adding any problem to ps.
func (e *engine) compileURL(path, src string, in *sources, ps *problems) *template {
	if src == "" {
		ps.add(path, "required")
		return nil
	}
	if len(src) > maxURLLen {
		ps.add(path, "longer than %d bytes", maxURLLen)
		return nil
	}
	prefix, whole := literalPrefix(src)
	src, remap, ok := in.translate(path, src, ps)
	if !ok {
		return nil
	}
	t, msgs := e.env.CompileURL(src)
	validateURLHost(path, prefix, whole, ps)
	tmpl := newTemplate(path, t, remapAll(msgs, remap), ps)
	if tmpl != nil {
		if raw, ok := t.Literal(); ok {
			if u, auth, err := parseRenderedURL(raw); err == nil { // else rendering reports it
				tmpl.fixed = &fixedURL{u: *u, auth: auth, url: u.String(), host: urlHost(u)}
			}
		}
	}
	return tmpl
}

// remapAll returns msgs with remap applied to each.
func remapAll(msgs []string, remap func(string) string) []string {
	for i, m := range msgs {
		msgs[i] = remap(m)
	}
	return msgs
}

// literalPrefix returns the text a template starts with before its first tag, and whether
// that is the whole template.
func literalPrefix(src string) (string, bool) {
	end := len(src)
	for _, tag := range []string{"{{", "{%", "{#"} {
		if i := strings.Index(src, tag); i >= 0 {
			end = min(end, i)
		}
	}
	return src[:end], end == len(src)
}

// newTemplate returns what the sandbox compiled as the template at path, or adds its
// problems to ps and returns nil.
func newTemplate(path string, t *jinja.Template, msgs []string, ps *problems) *template {
	for _, m := range msgs {
		ps.add(path, "%s", m)
	}
	if t == nil {
		return nil
	}
	return &template{path: path, t: t}
}

// render renders t to a string.
func (e *engine) render(t *template, s *jinja.Scope) (string, error) {
	out, err := t.t.Render(s)
	if err != nil {
		return "", &RenderError{Path: t.path, Err: err}
	}
	return out, nil
}

// value renders t for a JSON body: a template that is one expression keeps its value's type,
// any other renders to a string.
func (e *engine) value(t *template, s *jinja.Scope) (any, error) {
	v, err := t.t.Value(s)
	if err != nil {
		return nil, &RenderError{Path: t.path, Err: err}
	}
	return v, nil
}

// vars are the variables of one rendering. They implement jinja.Vars.
type vars struct {
	user    *User // read only
	params  Map
	event   *Event // nil when the delivery was not triggered by an event
	message *Message
	variant string // the job's variant, or empty
	now     time.Time
	// reads is what the templates rendered with them may read: Data builds only that. Nil
	// builds everything.
	reads *jinja.Reads
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
	u := v.user
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

// Data returns the variables templates see, those that v.reads says they may read. Maps and
// lists are copied, so a template that assigns into them ({% set parameter.a.b = 1 %})
// cannot change the stored user or event.
func (v *vars) Data() map[string]any {
	r := v.reads
	data := make(map[string]any, 8)
	var params map[string]any // the copy of v.params that parameter and event.params share
	copyParams := func() map[string]any {
		if params == nil {
			params = cloneMap(v.params)
		}
		return params
	}
	if r.Read("userAttribute") {
		data["userAttribute"] = cloneMap(v.user.Attributes)
	}
	if r.Read("parameter") {
		data["parameter"] = copyParams()
	}
	if r.Read("now") {
		data["now"] = formatTime(v.now)
	}
	if v.variant != "" && r.Read("variant") {
		data["variant"] = v.variant
	}
	for root, all := range records {
		if !r.Read(root) {
			continue
		}
		keys, only := r.Keys(root)
		if !only {
			keys = all
		}
		m := make(map[string]any, len(keys))
		for _, k := range keys {
			if x, ok := v.field(root, k); ok {
				m[k] = x
			}
		}
		if _, ok := m["params"]; ok && root == "event" {
			m["params"] = copyParams()
		}
		if len(m) > 0 || v.hasRecord(root) {
			data[root] = m
		}
	}
	return data
}

// hasRecord reports whether the record variable root (see records) is in the template
// context: whether it has any field.
func (v *vars) hasRecord(root string) bool {
	return slices.ContainsFunc(records[root], func(k string) bool {
		_, ok := v.field(root, k)
		return ok
	})
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

// Lookup returns the value at path in what Data returns, without building it, and whether
// it is there. Only the maps Data copies (map[string]any) are walked; any other value on the
// way reports false, for the sandbox to render with Data. A record (user, message, event)
// itself reports false too.
func (v *vars) Lookup(path []string) (any, bool) {
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
	case "variant":
		x, ok = v.variant, v.variant != ""
	case "user", "message", "event":
		if len(rest) == 0 {
			return nil, false
		}
		x, ok = v.field(path[0], rest[0])
		rest = rest[1:]
	default:
		return nil, false
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
	return x, ok
}
