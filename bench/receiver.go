package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// payload is the small JSON body every system POSTs: the time its delivery was enqueued, in
// Unix microseconds (exact in a JSON number), or 0 where the enqueuer has none to give (a
// campaign's fan-out).
type payload struct {
	EnqueuedUS int64 `json:"enqueued_us"`
}

// body returns the bytes of the payload for a delivery enqueued at us, as the raw loop and
// River send them and as the library renders its message.
func body(us int64) []byte {
	b, _ := json.Marshal(payload{EnqueuedUS: us}) // cannot fail on an int64
	return b
}

// receiver is the loopback endpoint of one run. It counts requests by their webhook-id
// header, records the latency of each first arrival from the enqueue time in its body, and
// closes done when want distinct IDs have arrived. It is safe for concurrent use.
type receiver struct {
	URL  string // where to POST, on 127.0.0.1
	srv  *http.Server
	want int
	done chan struct{} // closed when want distinct IDs have arrived

	mu        sync.Mutex // guards the fields below
	seen      map[string]int
	total     int
	bad       int       // requests without a webhook-id or with a body that is not a payload
	latencies []int64   // µs from enqueue to first arrival, for deliveries that had an enqueue time
	last      time.Time // when the want-th distinct ID arrived
}

// newReceiver starts a receiver on a fresh loopback port that expects want deliveries.
func newReceiver(want int) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{
		URL:       "http://" + ln.Addr().String() + "/hook",
		want:      want,
		done:      make(chan struct{}),
		seen:      make(map[string]int, want),
		latencies: make([]int64, 0, want),
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }() // returns ErrServerClosed when close is called
	return r, nil
}

// ServeHTTP counts one request and replies 200 (400 to a request it cannot read).
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	id := req.Header.Get("webhook-id")
	b, err := io.ReadAll(io.LimitReader(req.Body, 1<<10))
	var p payload
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	r.arrive(id, p.EnqueuedUS, now, err == nil && id != "")
	if err != nil || id == "" {
		w.WriteHeader(http.StatusBadRequest)
	}
}

// arrive records a request for id, enqueued at enqueuedUS, that arrived at now.
func (r *receiver) arrive(id string, enqueuedUS int64, now time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if !ok {
		r.bad++
		return
	}
	r.seen[id]++
	if r.seen[id] > 1 {
		return
	}
	if enqueuedUS > 0 {
		r.latencies = append(r.latencies, now.UnixMicro()-enqueuedUS)
	}
	if len(r.seen) == r.want {
		r.last = now
		close(r.done)
	}
}

// tally is what a receiver got.
type tally struct {
	distinct   int       // distinct webhook-ids
	duplicates int       // requests beyond the first for an ID
	missing    int       // expected IDs that never arrived
	extra      int       // distinct IDs beyond those expected
	bad        int       // requests that could not be counted
	last       time.Time // arrival of the last expected delivery, zero if some are missing
	latencies  []int64   // µs, unsorted
}

// exact reports whether every delivery arrived exactly once.
func (t tally) exact() bool {
	return t.duplicates == 0 && t.missing == 0 && t.extra == 0 && t.bad == 0
}

// tally returns the counts so far.
func (r *receiver) tally() tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := tally{distinct: len(r.seen), duplicates: r.total - r.bad - len(r.seen), bad: r.bad, last: r.last}
	t.latencies = append([]int64(nil), r.latencies...)
	if t.distinct < r.want {
		t.missing = r.want - t.distinct
	} else {
		t.extra = t.distinct - r.want
	}
	return t
}

// close stops the server and closes its connections.
func (r *receiver) close() error {
	return r.srv.Close()
}
