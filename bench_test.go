package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// benchWorkers is the concurrency of both the Sender and the raw loop it is compared with.
const benchWorkers = 16

// countingServer is a loopback receiver that replies 200 and signals when it has received n
// requests.
type countingServer struct {
	*httptest.Server
	got  atomic.Int64
	want atomic.Int64
	done chan struct{}
}

func newCountingServer(tb testing.TB) *countingServer {
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if s.got.Add(1) == s.want.Load() {
			close(s.done)
		}
	}))
	tb.Cleanup(s.Close)
	return s
}

// report reports jobs per second and, steadier on a busy machine, the process's CPU
// time per job (the receiver's share included, which is the same for both paths).
func report(b *testing.B, cpuStart time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64((cpuTime(b)-cpuStart).Microseconds())/float64(b.N), "cpu-µs/delivery")
}

// expect resets the count and arms the signal for n requests.
func (s *countingServer) expect(n int) <-chan struct{} {
	s.got.Store(0)
	s.want.Store(int64(n))
	s.done = make(chan struct{})
	return s.done
}

// BenchmarkDelivery compares the whole path of a Triggered message (trigger, store, claim,
// render, encode, POST to a loopback receiver, attempt log) with a raw net/http loop that
// POSTs a body of the same size to the same receiver with the same concurrency. Compare the
// jobs/s of the two sub-benchmarks of one run.
func BenchmarkDelivery(b *testing.B) {
	srv := newCountingServer(b)
	body := []byte(`{"first_name":"Mary","last_name":"Doe","tier":"gold"}`)

	b.Run("raw-net-http", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers}}
		defer client.CloseIdleConnections()
		done := srv.expect(b.N)
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		cpu := cpuTime(b)
		for range benchWorkers {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					resp, err := client.Post(srv.URL+"/users/u1/status", "application/json", bytes.NewReader(body))
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
		<-done
		report(b, cpu)
	})

	b.Run("sender-memstore", func(b *testing.B) {
		ctx := context.Background()
		s, err := webhook.NewSender(memstore.New(), &webhook.Config{
			Workers:       benchWorkers,
			AllowNetworks: webhooktest.LoopbackNetworks(),
			HostRate:      -1, // the raw loop has no rate limit either
			Logger:        slog.New(slog.DiscardHandler),
		})
		if err != nil {
			b.Fatal(err)
		}
		err = s.SaveMessage(ctx, &webhook.Message{
			ID:  "bench",
			URL: srv.URL + "/users/{{ user.id }}/status",
			Data: []webhook.Field{
				{Key: "first_name", Value: "{{ userAttribute.first_name }}"},
				{Key: "last_name", Value: "{{ userAttribute.last_name }}"},
				{Key: "tier", Value: "{{ parameter.tier }}"},
			},
			Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Identify(ctx, webhook.User{ID: "u1", Attributes: map[string]any{"first_name": "Mary", "last_name": "Doe"}}); err != nil {
			b.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		done := srv.expect(b.N)
		params := map[string]any{"tier": "gold"}
		b.ResetTimer()
		cpu := cpuTime(b)
		for range b.N {
			if err := s.Trigger(ctx, webhook.Event{UserID: "u1", Name: "e", Params: params}); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		stop, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := s.Stop(stop); err != nil { // waits until the last attempts are logged
			b.Fatal(err)
		}
		b.StopTimer()
		report(b, cpu)
		as, err := s.Attempts(ctx, webhook.AttemptQuery{Limit: 1})
		if err != nil || len(as) != 1 || as[0].Outcome != webhook.Succeeded {
			b.Fatalf("last attempt = %+v, %v; want a success", as, err)
		}
	})
}

// replier is an in-process http.RoundTripper that answers every request 200 with an empty
// body, as the bench program's receiver does, and counts the requests.
type replier struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (r *replier) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if r.n.Add(1) == r.want {
		close(r.done)
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Date": {"Mon, 07 Dec 2026 00:00:00 GMT"}, "Content-Length": {"0"}},
		Body:    http.NoBody,
		Request: req,
	}, nil
}

// BenchmarkSenderCPU measures the Sender's own CPU per delivery in the bench program's
// steady shape at 100 workers (Send from 16 goroutines while the Sender sends) with no
// network: the HTTP client's transport answers in process, so that what is left is the
// Sender's work, memstore's, net/http's Client around the round trip and the garbage
// collector's, without the loopback exchange and the receiver that dominate
// BenchmarkDelivery.
func BenchmarkSenderCPU(b *testing.B) {
	ctx := context.Background()
	rt := &replier{want: int64(b.N), done: make(chan struct{})}
	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		Workers:          100,
		HTTPClient:       &http.Client{Transport: rt},
		HostRate:         -1,
		BreakerThreshold: -1,
		Logger:           slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	err = s.SaveMessage(ctx, &webhook.Message{
		ID: "sent", URL: "http://127.0.0.1:9/hook",
		Data:     []webhook.Field{{Key: "enqueued_us", Value: "{{ parameter.enqueued_us | default(0) }}"}},
		Delivery: webhook.Delivery{Kind: webhook.Immediate},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cpuTime(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				params := map[string]any{"enqueued_us": i}
				if _, err := s.Send(ctx, "sent", fmt.Sprintf("user-%07d", i), params, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-rt.done
	stop, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.Stop(stop); err != nil { // waits until the last attempts are logged
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/delivery")
}
