package webhooktest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
)

// Receiver is a webhook endpoint for tests: an HTTP server on the loopback interface that
// records every request and replies with the statuses it is given. A Sender reaches it only if
// its Config.AllowNetworks include [LoopbackNetworks].
//
// A Receiver is safe for concurrent use.
type Receiver struct {
	// URL is the base URL of the server, such as "http://127.0.0.1:43127".
	URL string
	// Server is the underlying server.
	Server *httptest.Server

	mu       sync.Mutex // guards the fields below
	script   []int      // statuses for the next requests, in order
	status   int        // status once the script is used up
	requests []Request
	changed  chan struct{} // closed and replaced when a request arrives
}

// Request is a request a Receiver received.
type Request struct {
	// Method is the HTTP method.
	Method string
	// URI is the request URI: the escaped path and query, as sent.
	URI string
	// Header is the request's header.
	Header http.Header
	// Body is the request's body.
	Body []byte
	// Status is the status the Receiver replied with.
	Status int
}

// BasicAuth returns the credentials of the request's basic auth Authorization header.
func (r *Request) BasicAuth() (username, password string, ok bool) {
	req := http.Request{Header: r.Header}
	return req.BasicAuth()
}

// NewReceiver starts a Receiver that replies 200 OK, and closes it when tb's test ends.
func NewReceiver(tb testing.TB) *Receiver {
	r := &Receiver{status: http.StatusOK, changed: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.Server.URL
	tb.Cleanup(r.Close)
	return r
}

// LoopbackNetworks returns the loopback ranges, 127.0.0.0/8 and ::1/128, for
// Config.AllowNetworks in tests that send to a Receiver.
func LoopbackNetworks() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Reply makes the next requests get these statuses, in order, after any given before; once
// they are used up, requests get the status set by [Receiver.SetStatus] (200 by default).
func (r *Receiver) Reply(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, statuses...)
}

// SetStatus sets the status of requests that no scripted status is left for.
func (r *Receiver) SetStatus(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	status := r.status
	if len(r.script) > 0 {
		status, r.script = r.script[0], r.script[1:]
	}
	r.requests = append(r.requests, Request{
		Method: req.Method, URI: req.RequestURI, Header: req.Header.Clone(), Body: body, Status: status,
	})
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(status)
}

// Requests returns the requests received so far, in order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Wait waits until at least n requests have been received and returns them all, or returns
// ctx's error if ctx ends first.
func (r *Receiver) Wait(ctx context.Context, n int) ([]Request, error) {
	for {
		r.mu.Lock()
		got, changed := len(r.requests), r.changed
		r.mu.Unlock()
		if got >= n {
			return r.Requests(), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close shuts the server down. It is called when the test ends.
func (r *Receiver) Close() { r.Server.Close() }
