package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz targets below run their seed corpora (testdata/fuzz/<FuzzName>) in every go test;
// docs/development.md says how to fuzz each one.

var fuzzNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// FuzzRetryAfter checks that any Retry-After value parses to nothing or to a positive wait of
// at most ten years, that whole seconds parse exactly, and that the standard policy only ever
// lengthens its wait, by at most its cap.
func FuzzRetryAfter(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, fuzzNow)
		if ok && (d <= 0 || d > maxRetryAfterSeconds*time.Second) {
			t.Fatalf("parseRetryAfter(%q) = %v, want a positive wait of at most ten years", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, false; want 0 when it fails", v, d)
		}
		if s := strings.TrimSpace(v); s != "" && strings.Trim(s, "0123456789") == "" {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n < maxRetryAfterSeconds {
				if want := time.Duration(n) * time.Second; d != want || ok != (n > 0) {
					t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, %v", v, d, ok, want, n > 0)
				}
			}
		}
		for _, status := range []int{429, 503} {
			r := AttemptResult{Attempt: 1, StatusCode: status, Header: http.Header{"Retry-After": {v}}, End: fuzzNow}
			wait, retry := DefaultRetryPolicy{}.NextRetry(r)
			if !retry || wait < time.Minute || wait > time.Hour {
				t.Fatalf("NextRetry(%d with Retry-After %q) = %v, %v; want a wait from 1m to 1h", status, v, wait, retry)
			}
		}
	})
}

// fuzzVars are the variables fuzzed templates are rendered with.
func fuzzVars(params Map) *vars {
	return &vars{
		user:    &User{ID: "u1", Email: "ann@example.com", Attributes: Map{"name": "Ann", "tags": []any{"a", "b"}, "n": 3.0}},
		params:  params,
		message: &Message{ID: "m", Version: 1},
		now:     fuzzNow,
	}
}

// FuzzTemplate checks that any template is either refused by validation with a problem at
// its path, or renders to a request within the size limit, with a JSON body that is valid
// JSON, without panicking, hanging or exhausting memory.
func FuzzTemplate(f *testing.F) {
	e := newEngine(true)
	f.Fuzz(func(t *testing.T, tmpl, param string, form bool) {
		m := &Message{ID: "m", URL: "https://example.com/hook", Data: []Field{{Key: "k", Value: tmpl}}}
		if form {
			m.ContentType = Form
		}
		cm, err := e.compile(m, nil)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || ve.Problems[0].Path != "data[0].value" {
				t.Fatalf("compile(%q) = %v, want a *ValidationError at data[0].value", tmpl, err)
			}
			return
		}
		req, err := e.request(cm, fuzzVars(Map{"p": param}), "dlv_1", defaultUserAgent)
		if err != nil {
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("request(%q) = %v, want a *RenderError", tmpl, err)
			}
			return
		}
		if len(req.Body) > defaultMaxRenderSize {
			t.Fatalf("request(%q) made a body of %d bytes", tmpl, len(req.Body))
		}
		if !form && !json.Valid(req.Body) {
			t.Fatalf("request(%q) made an invalid JSON body: %q", tmpl, req.Body)
		}
	})
}

// FuzzURL checks that a value substituted into a URL lands in its own position and nowhere
// else (one path segment, one query value, the fragment), and that any URL template is
// either refused or renders to an http or https URL with a host, the one requestTo says.
func FuzzURL(f *testing.F) {
	e := newEngine(true)
	fixed := &Message{ID: "m", URL: "https://example.com/a/{{ parameter.v }}/b?q={{ parameter.v }}&r=1#{{ parameter.v }}"}
	cmFixed, err := e.compile(fixed, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tmpl, v string) {
		req, err := e.request(cmFixed, fuzzVars(Map{"v": v}), "dlv_1", defaultUserAgent)
		if err != nil {
			t.Fatalf("rendering the fixed URL with %q: %v", v, err)
		}
		u, err := url.Parse(req.URL)
		if err != nil {
			t.Fatalf("rendered URL %q does not parse: %v", req.URL, err)
		}
		segs := strings.Split(u.EscapedPath(), "/")
		if u.Host != "example.com" || u.User != nil || len(segs) != 4 || segs[1] != "a" || segs[3] != "b" {
			t.Fatalf("value %q escaped its path segment: %q", v, req.URL)
		}
		if seg, err := url.PathUnescape(segs[2]); err != nil || seg != v {
			t.Fatalf("path segment %q of %q does not decode to %q", segs[2], req.URL, v)
		}
		if q := u.Query(); len(q) != 2 || len(q["q"]) != 1 || q.Get("q") != v || q.Get("r") != "1" {
			t.Fatalf("value %q escaped its query value: %q", v, req.URL)
		}
		if u.Fragment != v {
			t.Fatalf("fragment of %q = %q, want %q", req.URL, u.Fragment, v)
		}

		cm, err := e.compile(&Message{ID: "m", URL: tmpl}, nil)
		if err != nil {
			return
		}
		req, host, err := e.requestTo(cm, fuzzVars(Map{"v": v}), "dlv_1", defaultUserAgent)
		if err != nil {
			return
		}
		if u, err := url.Parse(req.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			t.Fatalf("URL template %q with %q rendered to %q", tmpl, v, req.URL)
		}
		if want := requestHost(req); host != want {
			t.Fatalf("URL template %q with %q rendered to %q, whose host is %q, not %q", tmpl, v, req.URL, want, host)
		}
	})
}

// FuzzEncode checks that JSON and form bodies decode to the keys and values that went in,
// whatever their bytes.
func FuzzEncode(f *testing.F) {
	e := newEngine(false)
	f.Fuzz(func(t *testing.T, key, v string, n float64, form bool) {
		params, err := normalizeMap(Map{"v": v, "n": n}, 0)
		if err != nil {
			return // not a JSON value, refused before any rendering
		}
		m := &Message{ID: "m", URL: "https://example.com/", Data: []Field{{Key: key, Value: "{{ parameter.v }}"}, {Key: key + "_n", Value: "{{ parameter.n }}"}}}
		if form {
			m.ContentType = Form
		}
		cm, err := e.compile(m, nil)
		if err != nil {
			if key != "" {
				t.Fatalf("compile with key %q: %v", key, err)
			}
			return
		}
		req, err := e.request(cm, fuzzVars(params), "dlv_1", defaultUserAgent)
		if err != nil {
			t.Fatalf("request with key %q, value %q: %v", key, v, err)
		}
		if form {
			q, err := url.ParseQuery(string(req.Body))
			if err != nil || len(q[key]) != 1 || q.Get(key) != v {
				t.Fatalf("form body %q does not decode to %q=%q: %v", req.Body, key, v, err)
			}
			return
		}
		var got map[string]any
		if err := json.Unmarshal(req.Body, &got); err != nil {
			t.Fatalf("JSON body %q: %v", req.Body, err)
		}
		if k := asJSON(key); got[k] != asJSON(v) || got[asJSON(key+"_n")] != n {
			t.Fatalf("JSON body %q decodes to %v, want %q=%q and %q=%v", req.Body, got, key, v, key+"_n", n)
		}
	})
}

// asJSON returns s as it reads after a JSON round trip, which replaces each byte of invalid
// UTF-8 with U+FFFD.
func asJSON(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
