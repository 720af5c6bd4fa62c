package storetest

import (
	"context"
	"errors"
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
//   - PutUsers/batch=N: users saved per second, N per call, as [webhook.Sender.Identify]
//     (N=1) and [webhook.Sender.UpdateUsers] save them;
//   - Events/batch=N: events saved per second, N per Enqueue, as [webhook.Sender.Trigger]
//     and [webhook.Sender.TriggerMany] save events that trigger nothing;
//   - Enqueue/batch=N: jobs enqueued per second, N per call;
//   - ClaimFinish/batch=N: jobs claimed N at a time and finished, each with an attempt, with
//     one Finish per claim, as a Sender's completer finishes the outcomes its workers hand
//     over, per second;
//   - Deliver: the whole job path, from [webhook.Sender.Send] called by 16 goroutines
//     to a loopback receiver through a started Sender of 16 workers, next to a raw net/http
//     loop of 16 goroutines posting to the same receiver in the same run; it reports
//     jobs/s, raw-req/s and %-of-raw, and where the process's CPU time can be read
//     (on Unix), the CPU time per job and per raw request and their ratio,
//     cpu-%-of-raw, which a busy machine does not skew.
//
// newStore is called once per sub-benchmark run and must return a new, empty Store.
func Bench(b *testing.B, newStore func(b *testing.B) webhook.Store) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("PutUsers/batch=%d", n), func(b *testing.B) { benchPutUsers(b, newStore(b), n) })
	}
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("Events/batch=%d", n), func(b *testing.B) { benchEvents(b, newStore(b), n) })
	}
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
			if _, err := s.Enqueue(b.Context(), webhook.EnqueueParams{Jobs: jobs}); err != nil {
				b.Fatal(err)
			}
			jobs = jobs[:0]
		}
	}
}

func benchPutUsers(b *testing.B, s webhook.Store, batch int) {
	cpu0 := cpuTime()
	users := make([]webhook.UserUpdate, 0, batch)
	for i := range b.N {
		users = append(users, webhook.UserUpdate{User: webhook.User{ID: fmt.Sprintf("u%09d", i),
			Attributes: webhook.Map{"plan": "gold", "age": int64(30 + i%40)}}})
		if len(users) == batch || i == b.N-1 {
			if err := s.PutUsers(b.Context(), webhook.PutUsersParams{Users: users, Now: at(0)}); err != nil {
				b.Fatal(err)
			}
			users = users[:0]
		}
	}
	reportJobs(b, cpu0)
}

func benchEvents(b *testing.B, s webhook.Store, batch int) {
	cpu0 := cpuTime()
	events := make([]webhook.Event, 0, batch)
	for i := range b.N {
		events = append(events, webhook.Event{ID: fmt.Sprintf("e%09d", i), UserID: fmt.Sprintf("u%d", i%1000),
			Name: "purchase", Params: webhook.Map{"amount": int64(i % 100)}, Time: at(time.Duration(i))})
		if len(events) == batch || i == b.N-1 {
			if _, err := s.Enqueue(b.Context(), webhook.EnqueueParams{Events: events}); err != nil {
				b.Fatal(err)
			}
			events = events[:0]
		}
	}
	reportJobs(b, cpu0)
}

func benchEnqueue(b *testing.B, s webhook.Store, batch int) {
	cpu0 := cpuTime()
	enqueueN(b, s, b.N, batch)
	reportJobs(b, cpu0)
}

// reportJobs reports the rate of b.N jobs (or users, or events) and, if it can be read, the
// process's CPU time per job since cpu0.
func reportJobs(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	if cpu := cpuTime() - cpu0; cpu0 > 0 && cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
	}
}

func benchClaimFinish(b *testing.B, s webhook.Store, batch int) {
	enqueueN(b, s, b.N, 100)
	b.ResetTimer()
	cpu0 := cpuTime()
	items := make([]webhook.Finished, 0, batch)
	for done := 0; done < b.N; {
		res, err := s.Claim(b.Context(), webhook.ClaimParams{Now: at(time.Second), Owner: "bench", Lease: time.Minute, Limit: batch})
		if err != nil || len(res.Jobs) == 0 {
			b.Fatalf("Claim = %d jobs, %v after %d of %d", len(res.Jobs), err, done, b.N)
		}
		items = items[:0]
		for _, j := range res.Jobs {
			j.State, j.Attempts = webhook.JobSucceeded, 1
			a := attempt(j.ID, 1, at(time.Second))
			a.Outcome, a.StatusCode = webhook.Succeeded, 200
			items = append(items, webhook.Finished{Job: j, Attempt: a})
		}
		errs, err := s.Finish(b.Context(), webhook.FinishParams{Jobs: items})
		if err == nil {
			err = errors.Join(errs...)
		}
		if err != nil {
			b.Fatalf("Finish of %d jobs: %v", len(items), err)
		}
		done += len(res.Jobs)
	}
	reportJobs(b, cpu0)
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
		HostRate: -1, // the raw loop it is compared with has no rate limit either
	})
	if err != nil {
		b.Fatal(err)
	}
	m := &webhook.Message{ID: "bench", URL: srv.URL + "/users/{{ user.id }}",
		Data: []webhook.Field{{Key: "user", Value: "{{ user.id }}"}, {Key: "n", Value: "{{ parameter.n }}"}}}
	if err := sender.SaveMessage(ctx, m); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	raw := rawLoop(ctx, c, srv.URL, b.N)
	rawCPU := cpuTime() - cpu0

	if err := sender.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer sender.Stop(context.Background())
	c.expect(b.N)
	b.ResetTimer()
	cpu0 = cpuTime()
	parallel(b.N, func(i int) error {
		_, err := sender.Send(ctx, "bench", fmt.Sprintf("u%d", i), map[string]any{"n": i}, nil)
		return err
	})
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
	// On a busy machine the rates swing with what else runs; the CPU each job costs
	// the process, against each raw request, does not.
	if cpu := cpuTime() - cpu0; cpu > 0 && rawCPU > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/delivery")
		b.ReportMetric(float64(rawCPU.Microseconds())/float64(b.N), "cpu-µs/raw-req")
		b.ReportMetric(100*float64(rawCPU)/float64(cpu), "cpu-%-of-raw")
	}
}

// rawLoop posts n requests to url from benchWorkers goroutines with a plain net/http client
// and returns the requests per second.
func rawLoop(ctx context.Context, c *counter, url string, n int) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers, DisableCompression: true}}
	defer client.CloseIdleConnections()
	c.expect(n)
	start := time.Now()
	parallel(n, func(i int) error {
		body := fmt.Sprintf(`{"user":"u%d","n":%d}`, i, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/users/u%d", url, i), strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
	<-c.reached
	return float64(n) / time.Since(start).Seconds()
}

// parallel calls f(0), ..., f(n-1) from benchWorkers goroutines and panics if f fails.
func parallel(n int, f func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if err := f(int(i)); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
}
