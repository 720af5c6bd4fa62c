// Command observe runs a Sender with the OpenTelemetry SDK: its metrics are served for
// Prometheus on a loopback /metrics, its spans are printed to stdout, a hook prints each job
// that ends, and a system webhook forwards the same to an operations endpoint.
//
// An app handler, under a span of its own, triggers a webhook to a CRM that fails once with
// 503 and then accepts the retry. The program prints the CRM's requests (with the traceparent
// of each attempt, since PropagateTrace is on), the spans (each attempt links to the app's
// span), the system webhook, and then the webhook_ metrics that /metrics serves.
//
//	cd examples/observe && go run .           # runs the demo and exits
//	cd examples/observe && go run . -serve    # then keeps serving /metrics until interrupted
//
// It is a module of its own, so that the library's users never download the SDK or the
// Prometheus client.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	serve := flag.Bool("serve", false, "keep serving /metrics after the demo, until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	demo, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// The OpenTelemetry SDK: spans to stdout as they end, metrics for Prometheus.
	spans, err := stdouttrace.New(stdouttrace.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())
	exporter, err := prometheus.New()
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())

	// /metrics on a loopback port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	metrics := &http.Server{Handler: promhttp.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go metrics.Serve(ln)
	defer metrics.Close()
	metricsURL := "http://" + ln.Addr().String() + "/metrics"
	fmt.Println("metrics: " + metricsURL)

	// A CRM that fails once, then accepts.
	var calls atomic.Int32
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("crm: %s %s traceparent=%s\n", r.Method, r.URL.Path, r.Header.Get("Traceparent"))
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer crm.Close()

	// The operations endpoint of the system webhooks.
	secret := webhook.NewSecret()
	ended := make(chan struct{}, 1)
	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]string{secret}, r.Header, body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Printf("ops: system webhook %s\n", body)
		select {
		case ended <- struct{}{}:
		default:
		}
	}))
	defer ops.Close()

	s, err := webhook.NewSender(memstore.New(), &webhook.Config{
		AllowNetworks:  webhooktest.LoopbackNetworks(), // the CRM and the ops endpoint are on loopback
		RetryPolicy:    webhook.DefaultRetryPolicy{InitialInterval: 500 * time.Millisecond},
		Logger:         slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelWarn})),
		TracerProvider: tp,
		MeterProvider:  mp,
		PropagateTrace: true,
		Hooks: webhook.Hooks{JobEnded: func(_ context.Context, e webhook.JobEnd) {
			fmt.Printf("hook: job %s of %s %s after %d attempts\n", e.JobID, e.MessageID, e.State, e.Attempts)
		}},
		SystemWebhook: &webhook.SystemWebhook{
			URL: ops.URL + "/webhook-events", Secrets: []string{secret},
			Types: []webhook.NoticeType{webhook.NoticeJobEnded},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	err = s.SaveMessage(demo, &webhook.Message{
		ID:       "update-status",
		URL:      crm.URL + "/users/{{ user.id }}/status",
		Data:     []webhook.Field{{Key: "level", Value: "{{ parameter.level }}"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "updateStatus"},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Start(demo); err != nil {
		log.Fatal(err)
	}

	// The app's handler, under its own span: the job keeps the span's trace context, and
	// every attempt's span links to it.
	reqCtx, span := tp.Tracer("app").Start(demo, "POST /users/u1/status")
	err = s.Trigger(reqCtx, webhook.Event{UserID: "u1", Name: "updateStatus", Params: map[string]any{"level": "gold"}})
	span.End()
	if err != nil {
		log.Fatal(err)
	}

	select {
	case <-ended:
	case <-demo.Done():
		log.Fatal("the job did not end in time")
	}
	printMetrics(demo, metricsURL)       // while the Sender runs: it reports the queue's gauges
	if err := s.Stop(demo); err != nil { // waits for the attempts to be recorded and the hooks
		log.Fatal(err)
	}
	if *serve {
		fmt.Println("serving " + metricsURL + " until interrupted")
		<-ctx.Done()
	}
}

// printMetrics prints the webhook_ series that url serves.
func printMetrics(ctx context.Context, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println("\n/metrics (webhook_ series):")
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "webhook_") && !strings.Contains(line, "_bucket{") {
			fmt.Println("  " + line)
		}
	}
}
