package webhook_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/webhooktest"
	"go.uber.org/goleak"
)

// rawServer serves each connection on a loopback listener with handle, which must return
// once done is closed. The listener and every connection are closed, and every goroutine
// waited for, when the test ends.
func rawServer(tb testing.TB, handle func(c net.Conn, done <-chan struct{})) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c, done)
			})
		}
	})
	tb.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// readRequest reads one request from c, as a server would before answering.
func readRequest(c net.Conn) {
	r, err := http.ReadRequest(bufio.NewReader(c))
	if err == nil {
		_, _ = r.Body.Read(make([]byte, 1<<10))
	}
}

// headerServer answers every request with 200, the given header lines and a body "ok". The
// answer is built before the function returns, so a test can measure what sending allocates.
func headerServer(tb testing.TB, header string) string {
	tb.Helper()
	answer := []byte("HTTP/1.1 200 OK\r\n" + header + "\r\nContent-Length: 2\r\n\r\nok")
	return rawServer(tb, func(c net.Conn, done <-chan struct{}) {
		readRequest(c)
		_, _ = c.Write(answer)
		<-done
	})
}

// TestHostileReceivers sends to loopback servers that misbehave on purpose. Each attempt must
// end, be logged with the right outcome, read at most the response body cap, and leave no
// goroutine behind (checked with go.uber.org/goleak, a test-only dependency: it waits for
// goroutines that are ending without the test having to sleep).
func TestHostileReceivers(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // runs last, after every server closed
	// Only the receivers that stall need a short timeout; the others must finish well within
	// the default one even on a loaded machine.
	const timeout = 300 * time.Millisecond
	cfg := func() *webhook.Config { return &webhook.Config{RequestTimeout: timeout} }

	t.Run("never answers", func(t *testing.T) {
		h := newHarness(t, cfg())
		url := rawServer(t, func(c net.Conn, done <-chan struct{}) {
			readRequest(c)
			<-done
		})
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: url + "/hook"})
		if a.Outcome != webhook.Retrying || a.StatusCode != 0 || !strings.Contains(a.Err, "deadline exceeded") {
			t.Errorf("attempt = %s, status %d, error %q; want retrying after the timeout", a.Outcome, a.StatusCode, a.Err)
		}
	})

	t.Run("headers one byte at a time", func(t *testing.T) {
		h := newHarness(t, cfg())
		url := rawServer(t, func(c net.Conn, done <-chan struct{}) {
			readRequest(c)
			tick := time.NewTicker(timeout / 10)
			defer tick.Stop()
			for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: " + strings.Repeat("z", 100) + "\r\n\r\nok") {
				select {
				case <-tick.C:
				case <-done:
					return
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
			}
		})
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: url + "/hook"})
		if a.Outcome != webhook.Retrying || a.StatusCode != 0 || !strings.Contains(a.Err, "deadline exceeded") {
			t.Errorf("attempt = %s, status %d, error %q; want retrying after the timeout", a.Outcome, a.StatusCode, a.Err)
		}
	})

	t.Run("10 MB body", func(t *testing.T) {
		h := newHarness(t, nil)
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10485760")
			for range 160 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		t.Cleanup(srv.Close)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: srv.URL + "/hook"})
		runtime.ReadMemStats(&after)
		if a.Outcome != webhook.Succeeded || len(a.ResponseBody) != 16<<10 {
			t.Errorf("attempt = %s with a body of %d bytes; want succeeded with the first 16 KiB", a.Outcome, len(a.ResponseBody))
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Errorf("sending allocated %d bytes for a 10 MB response; the body should be read only up to the cap", grew)
		}
	})

	t.Run("8 MiB header", func(t *testing.T) {
		h := newHarness(t, nil)
		url := headerServer(t, "X-Big: "+strings.Repeat("z", 8<<20))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: url + "/hook"})
		runtime.ReadMemStats(&after)
		if a.Outcome != webhook.Retrying || a.StatusCode != 0 || !strings.Contains(a.Err, "exceeded 65536 bytes") {
			t.Errorf("attempt = %s, status %d, error %q; want retrying after the 64 KiB header limit", a.Outcome, a.StatusCode, a.Err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 2<<20 {
			t.Errorf("sending allocated %d bytes for an 8 MiB header; it should stop reading at 64 KiB", grew)
		}
	})

	t.Run("header kept in the log", func(t *testing.T) {
		// A header within the transport's limit, or any header with a client that has none,
		// is cut in the attempt log to its first 100 values and 16 KiB, in name order, and
		// the log shares no memory with the response: the 8 MiB value is not kept alive.
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		var many strings.Builder
		for i := range 1000 {
			fmt.Fprintf(&many, "X-H-%04d: %040d\r\n", i, i)
		}
		// Each answer has Content-Length: 2 too, first in name order (15 bytes).
		for _, tc := range []struct {
			name, header          string
			client                *http.Client
			wantValues, wantBytes int
		}{
			{"1000 values", strings.TrimSuffix(many.String(), "\r\n"), nil, 100, 15 + 99*48},
			{"one 60 KB value", "X-Big: " + strings.Repeat("z", 60000), nil, 2, 16 << 10},
			{"8 MiB without a transport limit", "X-Big: " + strings.Repeat("z", 8<<20), &http.Client{Transport: tr}, 2, 16 << 10},
		} {
			t.Run(tc.name, func(t *testing.T) {
				url := headerServer(t, tc.header)
				h := newHarness(t, &webhook.Config{HTTPClient: tc.client})
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				a := h.sendOnce(t, &webhook.Message{ID: "m", URL: url + "/hook"})
				runtime.GC()
				runtime.ReadMemStats(&after)
				if a.Outcome != webhook.Succeeded {
					t.Fatalf("attempt = %s, error %q; want succeeded", a.Outcome, a.Err)
				}
				values, size := 0, 0
				for k, vs := range a.ResponseHeader {
					values += len(vs)
					for _, v := range vs {
						size += len(k) + len(v)
					}
				}
				if values != tc.wantValues || size != tc.wantBytes {
					t.Errorf("the log kept %d values, %d bytes; want %d, %d", values, size, tc.wantValues, tc.wantBytes)
				}
				if _, ok := a.ResponseHeader["X-H-0098"]; tc.wantValues == 100 && !ok {
					t.Errorf("the log kept %v; want the first 100 values in name order", slices.Sorted(maps.Keys(a.ResponseHeader)))
				}
				if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 2<<20 {
					t.Errorf("the heap grew by %d bytes after the attempt; the log keeps at most 16 KiB of header", grew)
				}
			})
		}
	})

	t.Run("gzip bomb", func(t *testing.T) {
		h := newHarness(t, nil)
		var bomb bytes.Buffer
		zw := gzip.NewWriter(&bomb)
		zeros := make([]byte, 1<<20)
		for range 32 { // 32 MiB of zeros in about 32 KiB
			_, _ = zw.Write(zeros)
		}
		_ = zw.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(bomb.Bytes())
		}))
		t.Cleanup(srv.Close)
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: srv.URL + "/hook"})
		if a.Outcome != webhook.Succeeded || len(a.ResponseBody) != 16<<10 || !strings.HasPrefix(a.ResponseBody, "\x1f\x8b") {
			t.Errorf("attempt = %s with a body of %d bytes starting %q; want succeeded with the first 16 KiB of the compressed body, never inflated",
				a.Outcome, len(a.ResponseBody), a.ResponseBody[:min(4, len(a.ResponseBody))])
		}
	})

	t.Run("connection reset", func(t *testing.T) {
		h := newHarness(t, nil)
		url := rawServer(t, func(c net.Conn, done <-chan struct{}) {
			readRequest(c)
			_ = c.(*net.TCPConn).SetLinger(0) // close with RST
		})
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: url + "/hook"})
		if a.Outcome != webhook.Retrying || a.StatusCode != 0 || a.Err == "" {
			t.Errorf("attempt = %s, status %d, error %q; want retrying after a network error", a.Outcome, a.StatusCode, a.Err)
		}
	})

	t.Run("invalid HTTP", func(t *testing.T) {
		h := newHarness(t, nil)
		url := rawServer(t, func(c net.Conn, done <-chan struct{}) {
			readRequest(c)
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\nnot http at all\r\n\r\n"))
		})
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: url + "/hook"})
		if a.Outcome != webhook.Retrying || a.StatusCode != 0 || !strings.Contains(a.Err, "malformed HTTP") {
			t.Errorf("attempt = %s, status %d, error %q; want retrying after a malformed response", a.Outcome, a.StatusCode, a.Err)
		}
	})

	t.Run("redirect to a blocked address", func(t *testing.T) {
		// The Sender dials through a guarded Dialer that records every address asked for;
		// the redirect target, a cloud metadata address, must never be asked for.
		var mu sync.Mutex
		var dialed []string
		d := &webhook.Dialer{AllowNetworks: webhooktest.LoopbackNetworks()}
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, addr)
			mu.Unlock()
			return d.DialContext(ctx, network, addr)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		h := newHarness(t, &webhook.Config{HTTPClient: &http.Client{Transport: tr}})
		srv := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data/", http.StatusFound))
		t.Cleanup(srv.Close)
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: srv.URL + "/hook"})
		if a.Outcome != webhook.Failed || a.StatusCode != http.StatusFound {
			t.Errorf("attempt = %s with %d, want failed with 302", a.Outcome, a.StatusCode)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, addr := range dialed {
			if strings.HasPrefix(addr, "169.254.") {
				t.Errorf("the redirect target %s was dialed", addr)
			}
		}
		if len(dialed) != 1 {
			t.Errorf("dialed %v, want only the receiver", dialed)
		}
	})
}
