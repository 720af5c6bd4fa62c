package storetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/webhooktest"
)

// Bench measures the Store that newStore returns, in sub-benchmarks:
//
//   - Enqueue/batch=N: jobs enqueued per second, N per call;
//   - ClaimFinish/batch=N: jobs claimed N at a time and finished with an attempt, per second;
//   - Deliver: the whole delivery path, from [webhook.Sender.Send] to a loopback receiver
//     with a started Sender of 16 workers, next to a raw net/http loop of 16 goroutines
//     posting to the same receiver in the same run; it reports deliveries/s, raw-req/s and
//     %-of-raw.
//
// newStore is called once per sub-benchmark run and must return a new, empty Store.
func Bench(b *testing.B, newStore func(b *testing.B) webhook.Store) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("Enqueue/batch=%d", n), func(b *testing.B) { benchEnqueue(b, newStore(b), n) })
	}
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("ClaimFinish/batch=%d", n), func(b *testing.B) { benchClaimFinish(b, newStore(b), n) })
	}
	b.Run("Deliver", func(b *testing.B) { benchDeliver(b, newStore(b)) })
}

// enqueueN enqueues n jobs due at epoch, batch at a time, numbered from 0.
func enqueueN(b *testing.B, s webhook.Store, n, batch int) {
	jobs := make([]*webhook.Job, 0, batch)
	for i := range n {
		jobs = append(jobs, job(fmt.Sprintf("j%09d", i), fmt.Sprintf("k%09d", i), at(0)))
		if len(jobs) == batch || i == n-1 {
			if err := s.Enqueue(b.Context(), jobs); err != nil {
				b.Fatal(err)
			}
			jobs = jobs[:0]
		}
	}
}

func benchEnqueue(b *testing.B, s webhook.Store, batch int) {
	enqueueN(b, s, b.N, batch)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

func benchClaimFinish(b *testing.B, s webhook.Store, batch int) {
	enqueueN(b, s, b.N, 100)
	b.ResetTimer()
	for done := 0; done < b.N; {
		jobs, err := s.Claim(b.Context(), at(time.Second), "bench", time.Minute, batch)
		if err != nil || len(jobs) == 0 {
			b.Fatalf("Claim = %d jobs, %v after %d of %d", len(jobs), err, done, b.N)
		}
		for _, j := range jobs {
			j.State, j.Attempts = webhook.JobSucceeded, 1
			a := attempt(j.ID, 1, at(time.Second))
			a.Outcome, a.StatusCode = webhook.Succeeded, 200
			if err := s.Finish(b.Context(), j, a); err != nil {
				b.Fatal(err)
			}
		}
		done += len(jobs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// counter is a loopback receiver that counts requests.
type counter struct {
	n       atomic.Int64
	target  atomic.Int64
	reached chan struct{} // receives when n reaches target
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if c.n.Add(1) == c.target.Load() {
		c.reached <- struct{}{}
	}
}

// expect makes the counter signal when n more requests have arrived.
func (c *counter) expect(n int) { c.target.Store(c.n.Load() + int64(n)) }

const benchWorkers = 16

func benchDeliver(b *testing.B, s webhook.Store) {
	ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
	defer cancel()
	c := &counter{reached: make(chan struct{}, 1)}
	srv := httptest.NewServer(c)
	defer srv.Close()
	sender, err := webhook.NewSender(s, &webhook.Config{
		Workers: benchWorkers, AllowNetworks: webhooktest.LoopbackNetworks(), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	m := &webhook.Message{ID: "bench", URL: srv.URL + "/users/{{ user.id }}",
		Data: []webhook.Field{{Key: "user", Value: "{{ user.id }}"}, {Key: "n", Value: "{{ parameter.n }}"}}}
	if err := sender.SaveMessage(ctx, m); err != nil {
		b.Fatal(err)
	}
	raw := rawLoop(b, ctx, c, srv.URL, b.N)

	if err := sender.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer sender.Stop(context.Background())
	c.expect(b.N)
	b.ResetTimer()
	for i := range b.N {
		if _, err := sender.Send(ctx, "bench", fmt.Sprintf("u%d", i), map[string]any{"n": i}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-c.reached:
	case <-ctx.Done():
		b.Fatalf("%d of %d deliveries arrived", c.n.Load(), b.N)
	}
	b.StopTimer()
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(raw, "raw-req/s")
	b.ReportMetric(100*rate/raw, "%-of-raw")
}

// rawLoop posts n requests to url from benchWorkers goroutines with a plain net/http client
// and returns the requests per second.
func rawLoop(b *testing.B, ctx context.Context, c *counter, url string, n int) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers, DisableCompression: true}}
	defer client.CloseIdleConnections()
	c.expect(n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchWorkers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				body := fmt.Sprintf(`{"user":"u%d","n":%d}`, i, i)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/users/u%d", url, i), strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	<-c.reached
	return float64(n) / time.Since(start).Seconds()
}
