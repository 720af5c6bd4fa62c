package webhook

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// redactor hides secrets from what the attempt log and logs keep of headers: the values of
// the headers that [Request.Redacted] hides, and of those named in Config.SensitiveHeaders.
type redactor struct {
	sensitive []string // Config.SensitiveHeaders, canonicalized
}

// newRedactor returns a redactor that also hides the headers named.
func newRedactor(names []string) *redactor {
	r := &redactor{}
	for _, name := range names {
		r.sensitive = append(r.sensitive, http.CanonicalHeaderKey(name))
	}
	return r
}

// hide redacts, in place, the values of the headers named in Config.SensitiveHeaders; h is a
// copy already redacted by the built-in rules.
func (r *redactor) hide(h http.Header) http.Header {
	for _, name := range r.sensitive {
		if _, ok := h[name]; ok {
			h[name] = []string{redacted}
		}
	}
	return h
}

// response returns a response's header as the attempt log keeps it (see logHeader): a
// redacted copy, or the header itself when it has nothing to redact and no RetryPolicy sees
// it (2xx).
func (r *redactor) response(resp *http.Response) http.Header {
	h := logHeader(resp.Header)
	if resp.StatusCode/100 != 2 {
		return r.hide(redactHeader(h))
	}
	return r.request(h)
}

// request returns a request's header as the attempt log keeps it: a redacted copy, or h
// itself when it has nothing to redact. h must not change after: it is the header of the
// attempt's own copy of the request (see executor.signed), which only net/http reads, or the
// log's own copy of a response's.
func (r *redactor) request(h http.Header) http.Header {
	if !r.hasSecret(h) {
		return h
	}
	return r.hide(redactHeader(h))
}

// hasSecret reports whether h has a header whose value the attempt log hides.
func (r *redactor) hasSecret(h http.Header) bool {
	for k := range h {
		if sensitiveName(k) {
			return true
		}
	}
	for _, name := range r.sensitive {
		if _, ok := h[name]; ok {
			return true
		}
	}
	return false
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
	if plainURL(s) {
		return s // what url.Parse and URL.String give back
	}
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

// plainURL reports whether s is an http or https URL with nothing to redact that url.Parse
// takes and URL.String writes back as it is: a host of letters, digits, dots and dashes with
// an optional port, and a path of unreserved characters and slashes; no user info, query,
// fragment or escapes.
func plainURL(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return false
		}
	}
	host, path, _ := strings.Cut(rest, "/")
	host, port, _ := strings.Cut(host, ":")
	if host == "" || !all(host, func(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }) {
		return false
	}
	return all(port, func(c byte) bool { return '0' <= c && c <= '9' }) &&
		all(path, func(c byte) bool { return isAlnum(c) || strings.IndexByte("-._~/", c) >= 0 })
}

// all reports whether every byte of s satisfies f.
func all(s string, f func(byte) bool) bool {
	for i := range len(s) {
		if !f(s[i]) {
			return false
		}
	}
	return true
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
