package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// watchedStore is memstore that records the limit of every Claim, how often each job
// was claimed, and reports each Finish without an attempt (a job put back unsent).
type watchedStore struct {
	*memstore.Store
	mu       sync.Mutex
	limits   []int
	claims   map[string]int
	putBacks chan string
}

func newWatchedStore() *watchedStore {
	return &watchedStore{Store: memstore.New(), claims: map[string]int{}, putBacks: make(chan string, 100)}
}

func (s *watchedStore) Claim(ctx context.Context, p webhook.ClaimParams) (webhook.ClaimResult, error) {
	res, err := s.Store.Claim(ctx, p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = append(s.limits, p.Limit)
	for _, j := range res.Jobs {
		s.claims[j.ID]++
	}
	return res, err
}

func (s *watchedStore) Finish(ctx context.Context, p webhook.FinishParams) ([]error, error) {
	errs, err := s.Store.Finish(ctx, p)
	for _, f := range p.Jobs {
		if f.Attempt == nil {
			s.putBacks <- f.Job.ID
		}
	}
	return errs, err
}

// gatedServer answers every request once gate is closed; arrived receives each request's path
// as it comes in.
func gatedServer(tb testing.TB) (url string, arrived chan string, gate chan struct{}) {
	arrived, gate = make(chan string, 100), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- r.URL.Path
		<-gate
	}))
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})
	return srv.URL, arrived, gate
}

// startWatched starts a Sender of cfg on store and a fake clock, with message "m" to url, and
// enqueues n jobs before it starts, so that its first claim finds them all due.
func startWatched(tb testing.TB, store *watchedStore, cfg webhook.Config, url string, n int) (*webhook.Sender, *webhooktest.FakeClock, []string) {
	tb.Helper()
	ctx := tb.Context()
	cfg.Clock, cfg.Logger = webhooktest.NewFakeClock(epoch), slog.New(slog.DiscardHandler)
	s, clock := webhooktest.NewSender(tb, store, &cfg)
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: url + "/{{ user.id }}"}); err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for i := range n {
		id, err := s.Send(ctx, "m", string(rune('a'+i)), nil, nil)
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	webhooktest.Start(tb, s)
	return s, clock, ids
}

func TestClaimAheadAsksForTwiceWorkers(t *testing.T) {
	for name, tc := range map[string]struct {
		lease      time.Duration
		first, min int
	}{
		"lease of twice the request timeout": {lease: 20 * time.Second, first: 8, min: 4},
		"shorter lease":                      {lease: 19 * time.Second, first: 4, min: 1},
	} {
		t.Run(name, func(t *testing.T) {
			store := newWatchedStore()
			recv := webhooktest.NewReceiver(t)
			cfg := webhook.Config{Workers: 4, RequestTimeout: 10 * time.Second, Lease: tc.lease, HostRate: -1}
			_, clock, _ := startWatched(t, store, cfg, recv.URL, 20)
			if _, err := recv.Wait(t.Context(), 20); err != nil {
				t.Fatal(err)
			}
			if err := clock.BlockUntil(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
			store.mu.Lock()
			defer store.mu.Unlock()
			if store.limits[0] != tc.first {
				t.Errorf("first claim asked for %d deliveries, want %d", store.limits[0], tc.first)
			}
			for i, n := range store.limits {
				if n < tc.min {
					t.Errorf("claim %d asked for %d deliveries, want at least %d (limits %v)", i, n, tc.min, store.limits)
				}
			}
			if len(store.claims) != 20 {
				t.Errorf("%d deliveries were claimed, want 20", len(store.claims))
			}
		})
	}
}

// held is a started Sender of one worker that claims ahead, with two jobs: the worker
// sends the first, held at the receiver until gate closes, while the second waits, claimed.
type held struct {
	store   *watchedStore
	sender  *webhook.Sender
	clock   *webhooktest.FakeClock
	ids     []string
	arrived chan string
	gate    chan struct{}
}

func oneSendingOneHeld(t *testing.T) *held {
	h := &held{store: newWatchedStore()}
	var url string
	url, h.arrived, h.gate = gatedServer(t)
	cfg := webhook.Config{Workers: 1, RequestTimeout: 10 * time.Second, Lease: 30 * time.Second, HostRate: -1}
	h.sender, h.clock, h.ids = startWatched(t, h.store, cfg, url, 2)
	<-h.arrived
	return h
}

// putBack waits until a job is put back unsent and returns its ID.
func (h *held) putBack(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	select {
	case id := <-h.store.putBacks:
		return id
	case <-ctx.Done():
		t.Fatal("no delivery was put back")
		return ""
	}
}

// A job claimed ahead that waited for longer than half of (Lease - RequestTimeout) goes
// back to the queue unsent, and is claimed again with a fresh lease: it starts with at least
// RequestTimeout and a margin for the reads and rendering before the send.
func TestClaimedAheadDeliveryPutBackWhenLeaseRunsShort(t *testing.T) {
	h := oneSendingOneHeld(t)
	h.clock.Advance(11 * time.Second) // the waiting delivery's lease has 19s left: 10s to send, 9s to spare
	close(h.gate)
	put, sent := h.putBack(t), h.ids[0]
	switch put {
	case h.ids[0]:
		sent = h.ids[1]
	case h.ids[1]:
	default:
		t.Fatalf("put back %q, want one of %v", put, h.ids)
	}
	<-h.arrived // the one put back, claimed again and sent
	if err := h.clock.BlockUntil(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	as, err := h.store.Attempts(t.Context(), webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].Number != 1 || as[1].Number != 1 || as[0].Outcome != webhook.Succeeded || as[1].Outcome != webhook.Succeeded {
		t.Errorf("attempts = %+v, want one first attempt of each delivery, succeeded", as)
	}
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	if ns, np := h.store.claims[sent], h.store.claims[put]; ns != 1 || np != 2 {
		t.Errorf("claims of the delivery sent at once = %d, of the one put back = %d; want 1 and 2", ns, np)
	}
}

// Stop puts the jobs claimed ahead that no worker started back in the queue, unsent and
// unlogged, and waits for those in flight.
func TestStopPutsBackDeliveriesNotStarted(t *testing.T) {
	h := oneSendingOneHeld(t)
	stopped := make(chan error, 1)
	go func() { stopped <- h.sender.Stop(t.Context()) }()
	waiting := h.putBack(t)
	close(h.gate)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop = %v", err)
	}
	for _, id := range h.ids {
		j, err := getJob(t.Context(), h.store, id)
		if err != nil {
			t.Fatal(err)
		}
		want, attempts := webhook.JobSucceeded, 1
		if id == waiting {
			want, attempts = webhook.JobScheduled, 0
		}
		if j.State != want || j.Attempts != attempts || j.LeaseOwner != "" {
			t.Errorf("delivery %s is %s with %d attempts, lease %q; want %s with %d, no lease", id, j.State, j.Attempts, j.LeaseOwner, want, attempts)
		}
	}
	if as, _ := h.store.Attempts(t.Context(), webhook.AttemptQuery{}); len(as) != 1 {
		t.Errorf("logged %d attempts, want 1: %+v", len(as), as)
	}
}

// A Sender that drained the queue does not claim again when an outcome is written: at a low
// rate, each job costs one claim, not two (the second finding nothing).
func TestDrainedQueueIsNotClaimedAgainAfterEachOutcome(t *testing.T) {
	store := newWatchedStore()
	recv := webhooktest.NewReceiver(t)
	cfg := webhook.Config{Workers: 4, RequestTimeout: 10 * time.Second, Lease: 30 * time.Second, HostRate: -1}
	s, clock, _ := startWatched(t, store, cfg, recv.URL, 0)
	ctx := t.Context()
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	before := len(store.limits)
	store.mu.Unlock()
	const n = 5
	for i := range n {
		if _, err := s.Send(ctx, "m", "u", nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := recv.Wait(ctx, i+1); err != nil {
			t.Fatal(err)
		}
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if claims := len(store.limits) - before; claims != n {
		t.Errorf("%d claims for %d jobs sent one at a time, want one each", claims, n)
	}
}
