package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Request is an HTTP request as the Sender sends it: rendered once per delivery and sent with
// the same bytes on every attempt.
type Request struct {
	// Method is the HTTP method.
	Method string `json:"method"`
	// URL is the rendered URL, without user info.
	URL string `json:"url"`
	// Header holds every header the Sender sets, including Authorization for basic auth and
	// the delivery's webhook-id.
	Header http.Header `json:"header,omitempty"`
	// Body is the encoded Data; empty for GET.
	Body []byte `json:"body,omitempty"`
}

// redacted is what replaces a secret in the attempt log and in logs.
const redacted = "REDACTED"

// Redacted returns a copy of r whose secrets are replaced by "REDACTED": the values of
// headers whose names say they hold credentials (containing "auth", "token", "secret",
// "key", "password", "passwd", "session", "signature", "credential" or "cookie", so
// Authorization and Cookie among them), and query parameters with such names. The body is
// left as is.
func (r *Request) Redacted() *Request {
	return &Request{Method: r.Method, URL: redactURL(r.URL), Header: redactHeader(r.Header), Body: r.Body}
}

// commonNames are header names the Sender sets or most responses have, with whether they are
// sensitive, decided up front (a test checks them against hasSensitiveWord).
var commonNames = [...]struct {
	name      string
	sensitive bool
}{
	{"Content-Type", false}, {"User-Agent", false}, {"Webhook-Id", false}, {"Webhook-Timestamp", false},
	{"Webhook-Signature", true}, {"Authorization", true}, {"Date", false}, {"Content-Length", false},
}

// sensitiveName reports whether a header or query parameter called name likely holds a secret.
func sensitiveName(name string) bool {
	for _, c := range commonNames {
		if name == c.name {
			return c.sensitive
		}
	}
	return hasSensitiveWord(name)
}

// hasSensitiveWord reports whether name, in any case, contains a word that says it holds a
// credential.
func hasSensitiveWord(name string) bool {
	var buf [32]byte // most names fit: lowercase them without allocating
	if len(name) <= len(buf) && isASCII(name) {
		for i := range len(name) {
			c := name[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		name = string(buf[:len(name)])
	} else {
		name = strings.ToLower(name)
	}
	for _, s := range []string{"auth", "token", "secret", "key", "password", "passwd", "session", "signature", "credential", "cookie"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// redactHeader returns a copy of h with the values of sensitive headers replaced. Like
// http.Header.Clone, it puts all the values in one array.
func redactHeader(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	values := make([]string, 0, n)
	out := make(http.Header, len(h))
	for k, vs := range h {
		switch {
		case sensitiveName(k):
			values = append(values, redacted)
			vs = values[len(values)-1:]
		case vs == nil:
			out[k] = nil
			continue
		default:
			values = append(values, vs...)
		}
		out[k] = values[len(values)-len(vs) : len(values) : len(values)]
	}
	return out
}

// redactURL removes the password of u's user info and the values of query parameters with
// sensitive names, leaving the rest of u as written.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			k, _, hasValue := strings.Cut(p, "=")
			if name, err := url.QueryUnescape(k); hasValue && (err != nil || sensitiveName(name)) {
				parts[i] = k + "=" + redacted
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.String()
}

// compiledMessage is a validated message with its templates compiled.
type compiledMessage struct {
	msg     *Message
	url     *template
	headers []compiledField
	data    []compiledField
	// readsUser is set when a template may read more of the user than its ID, which the
	// job has: the user is then loaded from the Store to render it.
	readsUser bool
	// where and audience are the compiled Delivery.Where and Audience (nil if empty).
	where    []*compiledCondition
	audience *audienceNode
}

type compiledField struct {
	key   string
	value *template
}

// compile validates m and compiles its templates. It returns a *ValidationError listing every
// problem, or an error wrapping ErrInvalid if m is nil.
func (e *engine) compile(m *Message) (*compiledMessage, error) {
	if m == nil {
		return nil, invalidf("webhook: nil *Message")
	}
	var ps problems
	if !validID(m.ID) {
		ps.add("id", "must be 1 to %d letters, digits, '-', '_' or '.'", maxIDLen)
	}
	method := m.method()
	if !slices.Contains(methods, method) {
		ps.add("method", "%q is not one of %s", m.Method, strings.Join(methods, ", "))
	}
	ct := m.contentType()
	if ct != JSON && ct != Form {
		ps.add("content_type", "%q is neither %s nor %s", m.ContentType, JSON, Form)
	}
	cm := &compiledMessage{url: e.compileURL(m.URL, &ps)}
	if len(m.Headers) > maxFields {
		ps.add("headers", "more than %d headers", maxFields)
	}
	for i, h := range m.Headers {
		path := fmt.Sprintf("headers[%d]", i)
		switch {
		case !validHeaderName(h.Key):
			ps.add(path+".key", "%q is not a valid header name", h.Key)
		case slices.Contains(reservedHeaders, http.CanonicalHeaderKey(h.Key)):
			ps.add(path+".key", "%s is set by the Sender and cannot be given", http.CanonicalHeaderKey(h.Key))
		}
		if hasLineBreak(h.Value) {
			ps.add(path+".value", "contains a line break")
			continue
		}
		cm.headers = append(cm.headers, compiledField{h.Key, e.compileTemplate(path+".value", h.Value, &ps)})
	}
	if len(m.Data) > maxFields {
		ps.add("data", "more than %d fields", maxFields)
	}
	first := map[string]int{}
	for i, d := range m.Data {
		path := fmt.Sprintf("data[%d]", i)
		if d.Key == "" {
			ps.add(path+".key", "required")
		} else if j, dup := first[d.Key]; dup && ct == JSON && method != http.MethodGet {
			ps.add(path+".key", "%q is already the key of data[%d]; a JSON object cannot repeat a key", d.Key, j)
		} else if !dup {
			first[d.Key] = i
		}
		cm.data = append(cm.data, compiledField{d.Key, e.compileTemplate(path+".value", d.Value, &ps)})
	}
	m.Delivery.validate(&ps)
	validateSending(m, &ps)
	cm.where, cm.audience = compileTargeting(m, &ps)
	if err := ps.err(fmt.Sprintf("message %q", m.ID)); err != nil {
		return nil, err
	}
	cm.readsUser = cm.url.readsUser()
	for _, f := range slices.Concat(cm.headers, cm.data) {
		cm.readsUser = cm.readsUser || f.value.readsUser()
	}
	msg := *m
	msg.Method = method
	msg.ContentType = ct
	msg.Headers = slices.Clone(m.Headers)
	msg.Data = slices.Clone(m.Data)
	msg.Secrets = slices.Clone(m.Secrets)
	cm.msg = &msg
	return cm, nil
}

// request renders cm for one delivery, whose ID goes in the webhook-id header.
func (e *engine) request(cm *compiledMessage, v *vars, id, userAgent string) (*Request, error) {
	r := &rendering{vars: v}
	raw, err := e.render(cm.url, r)
	if err != nil {
		return nil, err
	}
	u, auth, err := parseRenderedURL(raw)
	if err != nil {
		return nil, &RenderError{Path: "url", Err: err}
	}
	h := make(http.Header, len(cm.headers)+4)
	for _, f := range cm.headers {
		val, err := e.render(f.value, r)
		if err != nil {
			return nil, err
		}
		if hasLineBreak(val) {
			return nil, &RenderError{Path: f.value.path, Err: errors.New("rendered value contains a line break")}
		}
		h.Add(f.key, val)
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", userAgent)
	}
	if auth != "" && h.Get("Authorization") == "" {
		h.Set("Authorization", auth)
	}
	h.Set("Webhook-Id", id)

	req := &Request{Method: cm.msg.Method, Header: h}
	switch {
	case req.Method == http.MethodGet:
		q, err := e.formBody(cm.data, r)
		if err != nil {
			return nil, err
		}
		if q != "" {
			if u.RawQuery != "" {
				q = u.RawQuery + "&" + q
			}
			u.RawQuery = q
		}
	case cm.msg.ContentType == Form:
		q, err := e.formBody(cm.data, r)
		if err != nil {
			return nil, err
		}
		req.Body = []byte(q)
	default:
		if req.Body, err = e.jsonBody(cm.data, r); err != nil {
			return nil, err
		}
	}
	if req.Method != http.MethodGet && h.Get("Content-Type") == "" {
		h.Set("Content-Type", string(cm.msg.ContentType))
	}
	if len(req.Body) > e.maxSize {
		return nil, &RenderError{Path: "data", Err: fmt.Errorf("body is larger than %d bytes", e.maxSize)}
	}
	req.URL = u.String()
	return req, nil
}

// parseRenderedURL checks a rendered URL and takes its user info out as a basic auth
// Authorization value. Errors never quote the URL, which may hold a password.
func parseRenderedURL(raw string) (u *url.URL, auth string, err error) {
	u, err = url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", fmt.Errorf("rendered URL is invalid: %v", err)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return nil, "", fmt.Errorf("rendered URL's scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, "", errors.New("rendered URL has no host")
	}
	if err := checkHostForm(u.Hostname()); err != nil {
		return nil, "", err
	}
	if u.User != nil {
		password, _ := u.User.Password()
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+password))
		u.User = nil
	}
	return u, auth, nil
}

// formBody renders fields as application/x-www-form-urlencoded, in order.
func (e *engine) formBody(fields []compiledField, r *rendering) (string, error) {
	var b strings.Builder
	for i, f := range fields {
		val, err := e.render(f.value, r)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(f.key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(val))
	}
	return b.String(), nil
}

// jsonBody renders fields as a JSON object whose keys keep the fields' order.
func (e *engine) jsonBody(fields []compiledField, r *rendering) ([]byte, error) {
	obj := make(orderedObject, len(fields))
	for i, f := range fields {
		val, err := e.value(f.value, r)
		if err != nil {
			return nil, err
		}
		obj[i] = member{f.key, val}
	}
	b, err := obj.MarshalJSON()
	if err != nil {
		return nil, &RenderError{Path: "data", Err: fmt.Errorf("cannot encode as JSON: %v", err)}
	}
	return b, nil
}
