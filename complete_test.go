package webhook_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// batchSizes is a memstore that records how many jobs each Claim call asks for and each
// Finish call writes.
type batchSizes struct {
	*memstore.Store
	mu       sync.Mutex
	claims   []int
	finishes []int
}

func (s *batchSizes) Claim(ctx context.Context, p webhook.ClaimParams) (webhook.ClaimResult, error) {
	s.mu.Lock()
	s.claims = append(s.claims, p.Limit)
	s.mu.Unlock()
	return s.Store.Claim(ctx, p)
}

func (s *batchSizes) Finish(ctx context.Context, p webhook.FinishParams) ([]error, error) {
	s.mu.Lock()
	s.finishes = append(s.finishes, len(p.Jobs))
	s.mu.Unlock()
	return s.Store.Finish(ctx, p)
}

// got returns the limits of the claims and the sizes of the finishes so far.
func (s *batchSizes) got() (claims, finishes []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.claims), slices.Clone(s.finishes)
}

// finished returns the sizes of the finishes so far.
func (s *batchSizes) finished() []int {
	_, f := s.got()
	return f
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
		store := &batchSizes{Store: memstore.New()}
		s := queued(t, store, client, 3, 0)
		ctx := t.Context()
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
		if got := store.finished(); len(got) != 0 {
			t.Fatalf("one outcome of three in flight was written at once (Finish sizes %v); want it to wait for the others", got)
		}
		respond <- struct{}{}
		respond <- struct{}{}
		synctest.Wait()
		if got := store.finished(); !slices.Equal(got, []int{3}) {
			t.Fatalf("Finish sizes %v once the three outcomes were in, without time passing; want [3]", got)
		}

		send("u4") // alone: written once the wait is over
		synctest.Wait()
		respond <- struct{}{}
		synctest.Wait()
		if got := store.finished(); !slices.Equal(got, []int{3}) {
			t.Fatalf("Finish sizes %v right after a lone outcome; want it to wait", got)
		}
		<-time.After(50 * time.Millisecond)
		if got := store.finished(); !slices.Equal(got, []int{3, 1}) {
			t.Fatalf("Finish sizes %v after 50ms; want [3 1]: a lone outcome waits only a few milliseconds", got)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// On the system clock, once it holds a job per worker, a Sender with 16 workers asks the
// Store for at least 32 jobs at a time, not for each worker's worth as it frees up: a durable
// Store's claim costs a fixed part per statement. (In a synctest bubble.)
func TestClaimsAskForAtLeast32Jobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})}
		store := &batchSizes{Store: memstore.New()}
		const n = 300
		s := queued(t, store, client, 16, n)
		ctx := t.Context()
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-time.After(time.Second) // the bubble's clock: long enough to send all
		synctest.Wait()
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		claims, finishes := store.got()
		if sent := sum(finishes); sent != n {
			t.Fatalf("%d jobs finished, want %d", sent, n)
		}
		if len(claims) < 3 || slices.Min(claims) < 32 {
			t.Errorf("claim limits %v; want each at least 32", claims)
		}
	})
}

// queued returns a Sender on store, not started, with workers workers that send through
// client, and n jobs of one message, each to a user of its own, in its queue.
func queued(t *testing.T, store webhook.Store, client *http.Client, workers, n int) *webhook.Sender {
	t.Helper()
	s, err := webhook.NewSender(store, &webhook.Config{
		HTTPClient: client, Workers: workers, HostRate: -1, BreakerThreshold: -1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: "http://hooks.example/in"}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := s.Send(ctx, "m", fmt.Sprintf("u%03d", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func sum(xs []int) int {
	total := 0
	for _, x := range xs {
		total += x
	}
	return total
}

// slowFinish is a memstore whose Finish calls wait until release is closed.
type slowFinish struct {
	*memstore.Store
	release chan struct{}
}

func (s *slowFinish) Finish(ctx context.Context, p webhook.FinishParams) ([]error, error) {
	<-s.release
	return s.Store.Finish(ctx, p)
}

// On the system clock, the workers go on sending while outcomes wait to be written: a
// durable Store's write takes milliseconds, and a dispatcher that could not claim until it
// ended would leave its workers without jobs. A Sender with 16 workers holds room for four
// outcomes a worker beyond the jobs it claims ahead. (In a synctest bubble.)
func TestWorkersGoOnWhileOutcomesWaitToBeWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent atomic.Int64
		client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			sent.Add(1)
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})}
		store := &slowFinish{Store: memstore.New(), release: make(chan struct{})}
		const workers, n = 16, 300
		s := queued(t, store, client, workers, n)
		ctx := t.Context()
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the first write waits; everything else has stopped
		// Twice the workers, a claim batch of 32, and four outcomes a worker.
		if got, want := sent.Load(), int64(2*workers+32+4*workers); got != want {
			t.Errorf("%d jobs sent while the first write waited, want %d", got, want)
		}
		close(store.release)
		<-time.After(time.Second) // the bubble's clock: long enough to send all
		synctest.Wait()
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if got := sent.Load(); got != n {
			t.Errorf("%d jobs sent in all, want %d", got, n)
		}
	})
}
