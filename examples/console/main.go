// Command console runs the quickstart's Sender with the web console mounted at /ops/ on a
// loopback address, behind basic auth (user ops, password ops), and keeps sending: every few
// seconds an event makes a webhook to a receiver the program runs on loopback, which fails
// every third request, so that the console has failed jobs to show and to replay.
//
//	go run ./examples/console -addr 127.0.0.1:8080
//
// Then open http://ops:ops@127.0.0.1:8080/ops/ and stop the program with Ctrl-C.
package main

import (
	"context"
	"crypto/subtle"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/console"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the loopback address to serve the console at")
	every := flag.Duration("every", 3*time.Second, "how often an event makes a webhook")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var n atomic.Int64
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 { // fail every third request, for good: 422 is not retried
			http.Error(w, `{"error":"unknown status level"}`, http.StatusUnprocessableEntity)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer crm.Close()

	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		AllowNetworks: webhooktest.LoopbackNetworks(), // loopback is refused by default
		RetryPolicy:   webhook.DefaultRetryPolicy{InitialInterval: 500 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID:          "update-status",
		Name:        "Status update to the CRM",
		URL:         strings.Replace(crm.URL, "http://", "http://api:secret@", 1) + "/users/{{ user.id }}/status?level={{ parameter['newStatus'] }}",
		ContentType: webhook.Form,
		Data: []webhook.Field{
			{Key: "first_name", Value: "{{ userAttribute['first_name'] | default('there') }}"},
			{Key: "last_name", Value: "{{ userAttribute['last_name'] }}"},
		},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "updateStatus"},
	})
	if err != nil {
		log.Fatal(err)
	}
	users := []webhook.User{
		{ID: "u1", Attributes: map[string]any{"first_name": "Mary", "last_name": "Doe"}},
		{ID: "u2", Attributes: map[string]any{"first_name": "Ann", "last_name": "Lee"}},
		{ID: "u3", Attributes: map[string]any{"last_name": "Roe"}},
	}
	for _, u := range users {
		if err := s.Identify(ctx, u); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Start(ctx); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/ops/", requireOperator(http.StripPrefix("/ops", console.New(s, nil))))
	mux.Handle("/{$}", http.RedirectHandler("/ops/", http.StatusFound))
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	fmt.Printf("console: http://ops:ops@%s/ops/\n", *addr)

	tick := time.NewTicker(*every)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			srv.Shutdown(context.Background())
			if err := s.Stop(context.Background()); err != nil {
				log.Fatal(err)
			}
			return
		case <-tick.C:
			e := webhook.Event{UserID: users[i%len(users)].ID, Name: "updateStatus", Params: map[string]any{"newStatus": []string{"Gold", "Silver"}[i%2]}}
			if err := s.Trigger(ctx, e); err != nil {
				log.Print(err)
			}
		}
	}
}

// requireOperator stands for the app's own authentication: the console has none of its own.
func requireOperator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user+":"+pass), []byte("ops:ops")) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="console"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
