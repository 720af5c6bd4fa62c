package webhook

import "net/http"

// hideHeaders redacts, in place, the values of the headers named in Config.SensitiveHeaders;
// h is a copy already redacted by the built-in rules.
func (s *Sender) hideHeaders(h http.Header) http.Header {
	for _, name := range s.sensitive {
		if _, ok := h[name]; ok {
			h[name] = []string{redacted}
		}
	}
	return h
}
