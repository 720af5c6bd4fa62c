package webhook_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// roundTrip is an http.RoundTripper made of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A job held back by its host's rate limit goes when the limit lets it, even while another
// host's attempt hangs until its timeout: the dispatcher claims it when it comes due, not
// when the slow attempt ends. (On the system clock, in a synctest bubble: the Sender's own
// time, with no real waiting.)
func TestHeldJobGoesWhileASlowHostHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var fastAt []time.Duration
		client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			if r.URL.Host == "slow.example" {
				<-r.Context().Done() // hangs until the Sender's timeout
				return nil, r.Context().Err()
			}
			mu.Lock()
			fastAt = append(fastAt, time.Since(start))
			mu.Unlock()
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})}
		s, err := webhook.NewSender(memstore.New(), &webhook.Config{
			HTTPClient:     client,
			HostRate:       1, // one request a second to each host
			HostBurst:      1,
			RequestTimeout: time.Minute,
			Logger:         slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: "http://{{ parameter.host }}/hook"}); err != nil {
			t.Fatal(err)
		}
		send := func(host, user string) {
			if _, err := s.Send(ctx, "m", user, map[string]any{"host": host}, nil); err != nil {
				t.Fatal(err)
			}
		}
		send("slow.example", "u0")
		for _, u := range []string{"u1", "u2", "u3"} {
			send("fast.example", u)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-time.After(10 * time.Second) // the bubble's clock: no real time passes
		synctest.Wait()
		mu.Lock()
		got := fastAt
		mu.Unlock()
		if len(got) != 3 {
			t.Fatalf("after 10s, %d of 3 jobs to the fast host were sent (at %v); want all, a second apart, while the slow host hangs for a minute", len(got), got)
		}
		if last := got[2]; last > 3*time.Second {
			t.Errorf("the third job to the fast host went at %v, want about 2s (its rate limit)", last)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
