package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hookline/webhook/internal/jinja"
)

// Request is an HTTP request as the Sender sends it: rendered once per job and sent with
// the same bytes on every attempt.
type Request struct {
	// Method is the HTTP method.
	Method string `json:"method"`
	// URL is the rendered URL, without user info.
	URL string `json:"url"`
	// Header holds every header the Sender sets, including Authorization for basic auth and
	// the job's webhook-id.
	Header http.Header `json:"header,omitempty"`
	// Body is the encoded Data; empty for GET.
	Body []byte `json:"body,omitempty"`
}

// request renders cm with v for one job, whose ID goes in the webhook-id header. It sets
// v.reads to what cm's templates read.
func (e *engine) request(cm *compiledMessage, v *vars, id, userAgent string) (*Request, error) {
	req, _, err := e.requestTo(cm, v, id, userAgent)
	return req, err
}

// requestTo is request that also returns the host the request goes to (see requestHost),
// from the URL it parsed.
func (e *engine) requestTo(cm *compiledMessage, v *vars, id, userAgent string) (*Request, string, error) {
	v.reads = cm.reads
	r := jinja.NewScope(v)
	var u *url.URL
	var auth string
	if f := cm.url.fixed; f != nil {
		fu := f.u // a copy: a GET's query is added to it
		u, auth = &fu, f.auth
	} else {
		raw, err := e.render(cm.url, r)
		if err != nil {
			return nil, "", err
		}
		if u, auth, err = parseRenderedURL(raw); err != nil {
			return nil, "", &RenderError{Path: "url", Err: err}
		}
	}
	h := make(http.Header, len(cm.headers)+4)
	for _, f := range cm.headers {
		val, err := e.render(f.value, r)
		if err != nil {
			return nil, "", err
		}
		if hasLineBreak(val) {
			return nil, "", &RenderError{Path: f.value.path, Err: errors.New("rendered value contains a line break")}
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
			return nil, "", err
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
			return nil, "", err
		}
		req.Body = []byte(q)
	default:
		var err error
		if req.Body, err = e.jsonBody(cm.data, r); err != nil {
			return nil, "", err
		}
	}
	if req.Method != http.MethodGet && h.Get("Content-Type") == "" {
		h.Set("Content-Type", string(cm.msg.ContentType))
	}
	if len(req.Body) > e.maxSize {
		return nil, "", &RenderError{Path: "data", Err: fmt.Errorf("body is larger than %d bytes", e.maxSize)}
	}
	if f := cm.url.fixed; f != nil && u.RawQuery == f.u.RawQuery {
		req.URL = f.url
		return req, f.host, nil
	}
	req.URL = u.String()
	return req, urlHost(u), nil
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
func (e *engine) formBody(fields []compiledField, r *jinja.Scope) (string, error) {
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
func (e *engine) jsonBody(fields []compiledField, r *jinja.Scope) ([]byte, error) {
	obj := make(jinja.Object, len(fields))
	for i, f := range fields {
		val, err := e.value(f.value, r)
		if err != nil {
			return nil, err
		}
		obj[i] = jinja.Member{Key: f.key, Value: val}
	}
	b, err := obj.MarshalJSON()
	if err != nil {
		return nil, &RenderError{Path: "data", Err: fmt.Errorf("cannot encode as JSON: %v", err)}
	}
	return b, nil
}
