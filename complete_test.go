package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// finishSizes is a memstore that records how many jobs each Finish call writes.
type finishSizes struct {
	*memstore.Store
	mu    sync.Mutex
	sizes []int
}

func (s *finishSizes) Finish(ctx context.Context, p webhook.FinishParams) ([]error, error) {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(p.Jobs))
	s.mu.Unlock()
	return s.Store.Finish(ctx, p)
}

func (s *finishSizes) got() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sizes)
}

// On the system clock, an outcome waits briefly for others to be written with it, so that a
// durable Store writes many in one Finish: until there is one per worker, or a few
// milliseconds have passed. (In a synctest bubble: the Sender's own time, no real waiting.)
func TestOutcomesWaitBrieflyToBeWrittenTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		respond := make(chan struct{})
		client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			<-respond
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})}
		store := &finishSizes{Store: memstore.New()}
		s, err := webhook.NewSender(store, &webhook.Config{
			HTTPClient: client, Workers: 3, HostRate: -1, BreakerThreshold: -1,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: "http://hooks.example/in"}); err != nil {
			t.Fatal(err)
		}
		send := func(user string) {
			if _, err := s.Send(ctx, "m", user, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range []string{"u1", "u2", "u3"} {
			send(u)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the three workers wait for their responses
		respond <- struct{}{}
		synctest.Wait()
		if got := store.got(); len(got) != 0 {
			t.Fatalf("one outcome of three in flight was written at once (Finish sizes %v); want it to wait for the others", got)
		}
		respond <- struct{}{}
		respond <- struct{}{}
		synctest.Wait()
		if got := store.got(); !slices.Equal(got, []int{3}) {
			t.Fatalf("Finish sizes %v once the three outcomes were in, without time passing; want [3]", got)
		}

		send("u4") // alone: written once the wait is over
		synctest.Wait()
		respond <- struct{}{}
		synctest.Wait()
		if got := store.got(); !slices.Equal(got, []int{3}) {
			t.Fatalf("Finish sizes %v right after a lone outcome; want it to wait", got)
		}
		<-time.After(50 * time.Millisecond)
		if got := store.got(); !slices.Equal(got, []int{3, 1}) {
			t.Fatalf("Finish sizes %v after 50ms; want [3 1]: a lone outcome waits only a few milliseconds", got)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
