package webhook_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hookline/webhook"
)

// TestSecretsStayOutOfEveryOutput renders, sends, fails and logs messages holding every kind
// of secret (URL passwords, Authorization, signing secrets, a header named sensitive in the
// Config) and looks for them in the attempt log, in returned errors and in the debug log.
func TestSecretsStayOutOfEveryOutput(t *testing.T) {
	h := newHarness(t, &webhook.Config{SensitiveHeaders: []string{"x-customer-ref"}})
	h.recv.SetStatus(http.StatusInternalServerError)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens on its port now
	withPassword := func(base, password string) string {
		return strings.Replace(base, "http://", "http://api:"+password+"@", 1)
	}
	signing := webhook.NewSecret()
	triggered := webhook.Delivery{Kind: webhook.Triggered, Event: "e"}
	for _, m := range []*webhook.Message{
		{ID: "basic", URL: withPassword(h.recv.URL, "hunter2-url") + "/hook?api_key=hunter2-query"},
		{ID: "bearer", URL: h.recv.URL + "/hook", Headers: []webhook.Field{{Key: "Authorization", Value: "Bearer hunter2-bearer"}}},
		{ID: "custom", URL: h.recv.URL + "/hook", Headers: []webhook.Field{{Key: "X-Customer-Ref", Value: "hunter2-custom"}}},
		{ID: "signed", URL: h.recv.URL + "/hook", Secrets: []string{signing}},
		{ID: "refused", URL: withPassword(closed.URL, "hunter2-refused") + "/hook"},
		{ID: "unrenderable", URL: withPassword(h.recv.URL, "hunter2-render") + "/{{ parameter.missing }}"},
	} {
		m.Delivery = triggered
		h.save(t, m)
	}
	h.triggerAndRetry(t, webhook.Event{UserID: "u1", Name: "e"})

	var errs []string
	for _, m := range []*webhook.Message{
		{ID: "bad-template", URL: withPassword(h.recv.URL, "hunter2-syntax") + "/{{ user.id "},
		{ID: "bad-secret", URL: h.recv.URL, Secrets: []string{"hunter2-plain", "whsec_aHVudGVyMi1zaG9ydA=="}},
		{ID: "bad-header", URL: h.recv.URL, Headers: []webhook.Field{{Key: "Authorization", Value: "Bearer hunter2-{{ oops"}}},
	} {
		if err := h.sender.SaveMessage(h.ctx, m); err == nil {
			t.Errorf("SaveMessage(%s) succeeded", m.ID)
		} else {
			errs = append(errs, err.Error())
		}
	}
	if _, err := h.sender.Preview(h.ctx, &webhook.Message{ID: "p", URL: withPassword(h.recv.URL, "hunter2-preview") + "/{{ nope }}"}, "u1", nil); err == nil {
		t.Error("Preview of a missing variable succeeded")
	} else {
		errs = append(errs, err.Error())
	}

	reqs := h.recv.Requests()
	var signatures []string
	for _, r := range reqs {
		if sig := r.Header.Get("Webhook-Signature"); sig != "" {
			signatures = append(signatures, strings.TrimPrefix(sig, "v1,"))
		}
	}
	if len(signatures) == 0 {
		t.Fatal("the receiver got no signed request")
	}
	as := h.attempts(t, webhook.AttemptQuery{})
	logged, err := json.Marshal(as)
	if err != nil {
		t.Fatal(err)
	}
	secrets := append([]string{"hunter2", strings.TrimPrefix(signing, "whsec_"), "aHVudGVyMi"}, signatures...)
	for name, text := range map[string]string{
		"attempt log": string(logged), "debug log": h.logs.String(), "returned errors": strings.Join(errs, "\n"),
	} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("the %s holds the secret %q:\n%s", name, s, text)
			}
		}
	}
	for _, want := range []string{`"X-Customer-Ref":["REDACTED"]`, `"Authorization":["REDACTED"]`, `"Webhook-Signature":["REDACTED"]`, "api_key=REDACTED"} {
		if !strings.Contains(string(logged), want) {
			t.Errorf("the attempt log does not show %s", want)
		}
	}
	for _, want := range []string{"outcome=failed", "refused", "missing variable parameter.missing"} {
		if !strings.Contains(h.logs.String(), want) {
			t.Errorf("the debug log does not mention %q: every path should have been logged", want)
		}
	}
	// The receiver did get the credentials: redaction is for the log only.
	var got strings.Builder
	for _, r := range reqs {
		got.WriteString(r.URI + r.Header.Get("Authorization") + r.Header.Get("X-Customer-Ref"))
	}
	for _, want := range []string{"hunter2-query", "hunter2-bearer", "hunter2-custom"} {
		if !strings.Contains(got.String(), want) {
			t.Errorf("the receiver never got %s", want)
		}
	}
}

// TestResponseHeadersRedacted checks that the attempt log hides the response headers that
// hold secrets, on a success as on a failure, and keeps the others.
func TestResponseHeadersRedacted(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusServiceUnavailable} {
		for _, secret := range []string{"Set-Cookie", "X-Customer-Ref", ""} {
			h := newHarness(t, &webhook.Config{SensitiveHeaders: []string{"x-customer-ref"}})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if secret != "" {
					w.Header().Set(secret, "hunter2")
				}
				w.Header().Set("X-Request-Id", "r1")
				w.WriteHeader(status)
			}))
			a := h.sendOnce(t, &webhook.Message{ID: "m", URL: srv.URL + "/hook"})
			srv.Close()
			want := http.Header{"X-Request-Id": {"r1"}}
			if secret != "" {
				want[secret] = []string{"REDACTED"}
			}
			for k, vs := range want {
				if got := a.ResponseHeader[k]; !slices.Equal(got, vs) {
					t.Errorf("status %d, secret in %q: logged response header %s = %q, want %q", status, secret, k, got, vs)
				}
			}
		}
	}
}
