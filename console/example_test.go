package console_test

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/console"
	"github.com/hookline/webhook/store/memstore"
)

// requireOperator stands for the app's own authentication: here, basic auth with one
// operator's password.
func requireOperator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "ops" || subtle.ConstantTimeCompare([]byte(pass), []byte("correct horse")) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ops"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// The console mounted under /ops/ of the app's mux, behind the app's authentication.
func ExampleNew() {
	s, err := webhook.NewSender(memstore.New(), nil)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", requireOperator(http.StripPrefix("/ops", console.New(s, nil))))

	for _, pass := range []string{"guess", "correct horse"} {
		req := httptest.NewRequest(http.MethodGet, "/ops/jobs?state=failed", nil)
		req.SetBasicAuth("ops", pass)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, "links under /ops/:", strings.Contains(rec.Body.String(), `<a href="/ops/attempts">`))
	}
	// Output:
	// 401 links under /ops/: false
	// 200 links under /ops/: true
}

// A read-only console shows the pages without their buttons and refuses every change.
func ExampleOptions_readOnly() {
	s, err := webhook.NewSender(memstore.New(), nil)
	if err != nil {
		panic(err)
	}
	h := console.New(s, &console.Options{ReadOnly: true})
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/jobs?state=failed", nil),
		httptest.NewRequest(http.MethodPost, "/replay", strings.NewReader("state=failed")),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(req.Method, req.URL, rec.Code)
	}
	// Output:
	// GET /jobs?state=failed 200
	// POST /replay 403
}
