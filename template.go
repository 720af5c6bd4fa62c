package webhook

import (
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
}

// compileTemplate compiles src, adding any problem to ps under path. It returns nil if there
// were problems.
func (e *engine) compileTemplate(path, src string, ps *problems) *template {
	if len(src) > maxTemplateLen {
		ps.add(path, "template is longer than %d bytes", maxTemplateLen)
		return nil
	}
	t, msgs := e.env.Compile(src)
	return newTemplate(path, t, msgs, ps)
}

// compileURL compiles a URL template, whose values are escaped for their positions, adding
// any problem to ps under "url".
func (e *engine) compileURL(src string, ps *problems) *template {
	if src == "" {
		ps.add("url", "required")
		return nil
	}
	if len(src) > maxURLLen {
		ps.add("url", "longer than %d bytes", maxURLLen)
		return nil
	}
	t, msgs := e.env.CompileURL(src)
	prefix, whole := literalPrefix(src)
	validateURLHost(prefix, whole, ps)
	return newTemplate("url", t, msgs, ps)
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

// readsUser reports whether t may read more of the user than user.id.
func (t *template) readsUser() bool {
	paths, ok := t.t.Paths()
	if !ok {
		return true
	}
	for _, p := range paths {
		if p[0] == "userAttribute" || p[0] == "user" && (len(p) < 2 || p[1] != "id") {
			return true
		}
	}
	return false
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

// Data returns the variables templates see. Maps and lists are copied, so a template that
// assigns into them ({% set parameter.a.b = 1 %}) cannot change the stored user or event.
func (v *vars) Data() map[string]any {
	params := cloneMap(v.params)
	data := map[string]any{
		"userAttribute": cloneMap(v.user.Attributes),
		"parameter":     params,
		"now":           formatTime(v.now),
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
	return data
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
