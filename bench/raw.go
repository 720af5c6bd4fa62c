package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// newHTTPClient returns a client set up as the library's default one is for workers
// workers (keep-alive connections to the one host, no compression), for the raw loop and
// River's workers.
func newHTTPClient(workers int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        100,
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// post sends the payload of a delivery enqueued at us to url with webhook-id id, and
// returns an error unless the reply is 2xx.
func post(ctx context.Context, client *http.Client, url, id string, us int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body(us)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Webhook-Id", id)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post %s: status %d", id, resp.StatusCode)
	}
	return nil
}

// raw is the baseline: an in-memory queue drained by workers goroutines that POST with
// net/http, with no store, no retries and no log.
type raw struct {
	client  *http.Client
	url     string
	workers int
	queue   chan int64 // enqueue times in µs
	next    atomic.Int64
	errs    atomic.Int64
	wg      sync.WaitGroup
}

func newRaw(_ context.Context, e *env) (system, error) {
	return &raw{client: newHTTPClient(e.workers), url: e.url, workers: e.workers, queue: make(chan int64, e.n)}, nil
}

func (r *raw) enqueueOne(_ context.Context, _ int, us int64) error {
	r.queue <- us
	return nil
}

func (r *raw) enqueueBurst(ctx context.Context, n int) error {
	now := time.Now().UnixMicro()
	for range n {
		if err := r.enqueueOne(ctx, 0, now); err != nil {
			return err
		}
	}
	return nil
}

func (r *raw) start(ctx context.Context) error {
	for range r.workers {
		r.wg.Go(func() {
			for us := range r.queue {
				id := "raw-" + strconv.FormatInt(r.next.Add(1), 10)
				if err := post(ctx, r.client, r.url, id, us); err != nil {
					r.errs.Add(1)
				}
			}
		})
	}
	return nil
}

// stop closes the queue, which must have no more enqueues, and waits for the workers.
func (r *raw) stop(ctx context.Context) error {
	close(r.queue)
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := r.errs.Load(); n > 0 {
		return fmt.Errorf("raw: %d posts failed", n)
	}
	return nil
}

func (r *raw) close(context.Context) error {
	r.client.CloseIdleConnections()
	return nil
}
