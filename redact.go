package webhook

import "net/http"

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
	if resp.StatusCode/100 == 2 && !r.hasSecret(h) {
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
