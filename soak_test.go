package webhook_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

var soak = flag.Bool("soak", false, "run TestSoak, the soak run of slow and hostile receivers (a minute or so)")

// attemptCounter is a slog.Handler that counts the attempts a Sender logs and closes done
// when it has counted want of them.
type attemptCounter struct {
	want   int64
	n      atomic.Int64
	failed atomic.Int64 // attempts that did not succeed
	done   chan struct{}
}

func (h *attemptCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h *attemptCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "webhook attempt" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "outcome" && a.Value.String() != string(webhook.Succeeded) {
			h.failed.Add(1)
		}
		return true
	})
	if h.n.Add(1) == h.want {
		close(h.done)
	}
	return nil
}

func (h *attemptCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *attemptCounter) WithGroup(string) slog.Handler      { return h }

// heapPeak samples the heap in use until stop is called, which returns the highest sample.
func heapPeak() (stop func() uint64) {
	var peak uint64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-tick.C:
			case <-quit:
				return
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		return peak
	}
}

// soakRun is what one run of TestSoak measured.
type soakRun struct {
	fast     time.Duration // until every delivery to a fast host succeeded
	all      time.Duration // until every delivery ended
	peakHeap uint64
	failed   int64
}

// runSoak sends perFast jobs to each of fast and perHostile to each of hostile, all
// enqueued at once, interleaved, with a Sender on the real clock that does not retry, and
// waits until every job has ended in a logged outcome.
// Each request to a fast host calls the function onFast holds.
func runSoak(t *testing.T, cfg webhook.Config, onFast *atomic.Pointer[func()], fast, hostile []string, perFast, perHostile int) soakRun {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	total := len(fast)*perFast + len(hostile)*perHostile
	counter := &attemptCounter{want: int64(total), done: make(chan struct{})}
	cfg.Logger = slog.New(counter)
	cfg.AllowNetworks = webhooktest.LoopbackNetworks()
	cfg.RetryPolicy = webhook.DefaultRetryPolicy{MaxRetries: -1} // every attempt ends its delivery
	s, err := webhook.NewSender(memstore.New(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: "http://{{ parameter.host }}/hook"}); err != nil {
		t.Fatal(err)
	}
	for i := range max(perFast, perHostile) {
		for _, hosts := range []struct {
			hosts []string
			n     int
		}{{fast, perFast}, {hostile, perHostile}} {
			for j, host := range hosts.hosts {
				if i < hosts.n {
					if _, err := s.Send(ctx, "m", fmt.Sprintf("u%d-%d", j, i), map[string]any{"host": host}, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	fastDone := make(chan struct{})
	var fastSent atomic.Int64
	onFast.Store(new(func() {
		if fastSent.Add(1) == int64(len(fast)*perFast) {
			close(fastDone)
		}
	}))
	peak := heapPeak()
	start := time.Now()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var run soakRun
	select {
	case <-fastDone:
		run.fast = time.Since(start)
	case <-ctx.Done():
		t.Fatalf("%d of %d deliveries to fast hosts sent: %v", fastSent.Load(), len(fast)*perFast, ctx.Err())
	}
	select {
	case <-counter.done:
		run.all = time.Since(start)
	case <-ctx.Done():
		t.Fatalf("%d of %d attempts logged: %v", counter.n.Load(), total, ctx.Err())
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	run.peakHeap, run.failed = peak(), counter.failed.Load()
	as, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ended := map[string]bool{}
	for _, a := range as {
		if a.Outcome != webhook.Succeeded && a.Outcome != webhook.Failed {
			t.Errorf("attempt of %s ended %s, want succeeded or failed", a.JobID, a.Outcome)
		}
		ended[a.JobID] = true
	}
	if len(ended) != total || len(as) != total {
		t.Errorf("%d attempts logged for %d deliveries, want one for each of %d", len(as), len(ended), total)
	}
	return run
}

// TestSoak is the soak run of slow and hostile receivers (go test -run TestSoak -soak): 20
// loopback hosts, of which 4 hang until the request timeout, 4 answer 503, 4 reset the
// connection and 8 answer at once. Jobs to the fast hosts must flow at their rate
// (each host's rate limit) as they do when there are no hostile hosts, memory must stay flat,
// and every job must end in a logged outcome. It reports the figures.
func TestSoak(t *testing.T) {
	if !*soak {
		t.Skip("the soak run takes a minute or so; run it with -soak")
	}
	var fast, hostile []string
	var onFast atomic.Pointer[func()]
	for range 8 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*onFast.Load())()
		}))
		t.Cleanup(srv.Close)
		fast = append(fast, srv.Listener.Addr().String())
	}
	for range 4 {
		hang := rawServer(t, func(c net.Conn, done <-chan struct{}) {
			readRequest(c)
			var wg sync.WaitGroup
			closed := make(chan struct{})
			wg.Go(func() { // the Sender hangs up at its timeout
				_, _ = c.Read(make([]byte, 1))
				close(closed)
			})
			select {
			case <-closed:
			case <-done:
				c.Close()
			}
			wg.Wait()
		})
		unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		t.Cleanup(unavailable.Close)
		reset := rawServer(t, func(c net.Conn, done <-chan struct{}) {
			readRequest(c)
			_ = c.(*net.TCPConn).SetLinger(0)
		})
		hostile = append(hostile, hang[len("http://"):], unavailable.Listener.Addr().String(), reset[len("http://"):])
	}
	cfg := webhook.Config{RequestTimeout: time.Second, BreakerCooldown: time.Second}
	const perFast, perHostile = 250, 40
	calm := runSoak(t, cfg, &onFast, fast, nil, perFast, 0)
	storm := runSoak(t, cfg, &onFast, fast, hostile, perFast, perHostile)
	rate := func(d time.Duration) float64 { return float64(len(fast)*perFast) / d.Seconds() }
	t.Logf("fast hosts alone: %d deliveries in %v, %.0f/s; peak heap %.1f MiB",
		len(fast)*perFast, calm.fast.Round(time.Millisecond), rate(calm.fast), float64(calm.peakHeap)/(1<<20))
	t.Logf("with %d hostile hosts (%d deliveries, %d failed): fast hosts' %d in %v, %.0f/s; all ended in %v; peak heap %.1f MiB",
		len(hostile), len(hostile)*perHostile, storm.failed, len(fast)*perFast, storm.fast.Round(time.Millisecond),
		rate(storm.fast), storm.all.Round(time.Millisecond), float64(storm.peakHeap)/(1<<20))
	if r := rate(storm.fast) / rate(calm.fast); r < 0.8 {
		t.Errorf("with hostile hosts, the fast hosts got %.0f%% of their rate alone; want at least 80%%", 100*r)
	}
	if storm.peakHeap > 2*calm.peakHeap+64<<20 {
		t.Errorf("peak heap %d bytes with hostile hosts, %d without: memory does not stay flat", storm.peakHeap, calm.peakHeap)
	}
}
