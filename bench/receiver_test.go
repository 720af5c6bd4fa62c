package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReceiverTally(t *testing.T) {
	type req struct {
		id   string
		body string
	}
	ok := func(id string) req { return req{id, `{"enqueued_us":1}`} }
	tests := []struct {
		name  string
		want  int
		reqs  []req
		tally tally
		done  bool
	}{
		{"each once", 2, []req{ok("a"), ok("b")}, tally{distinct: 2}, true},
		{"a duplicate", 2, []req{ok("a"), ok("a"), ok("b")}, tally{distinct: 2, duplicates: 1}, true},
		{"one missing", 3, []req{ok("a"), ok("b")}, tally{distinct: 2, missing: 1}, false},
		{"one extra", 1, []req{ok("a"), ok("b")}, tally{distinct: 2, extra: 1}, true},
		{"no webhook-id", 1, []req{ok(""), ok("a")}, tally{distinct: 1, bad: 1}, true},
		{"not a payload", 1, []req{{"a", "nope"}}, tally{bad: 1, missing: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newReceiver(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			defer r.close()
			for _, q := range tt.reqs {
				hr := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(q.body))
				if q.id != "" {
					hr.Header.Set("Webhook-Id", q.id)
				}
				r.ServeHTTP(httptest.NewRecorder(), hr)
			}
			got := r.tally()
			if got.distinct != tt.tally.distinct || got.duplicates != tt.tally.duplicates || got.missing != tt.tally.missing ||
				got.extra != tt.tally.extra || got.bad != tt.tally.bad {
				t.Errorf("tally = %+v, want %+v", got, tt.tally)
			}
			if want := tt.tally.duplicates+tt.tally.missing+tt.tally.extra+tt.tally.bad == 0; got.exact() != want {
				t.Errorf("exact() = %v for %+v", got.exact(), got)
			}
			select {
			case <-r.done:
				if !tt.done {
					t.Error("done closed, want open")
				}
				if got.last.IsZero() {
					t.Error("done closed with no last arrival")
				}
			default:
				if tt.done {
					t.Error("done open, want closed")
				}
			}
		})
	}
}

func TestReceiverLatency(t *testing.T) {
	r, err := newReceiver(3)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	now := time.UnixMicro(10_000_000)
	r.arrive("a", 9_000_000, now, true)
	r.arrive("a", 1, now, true) // a duplicate: not a latency
	r.arrive("b", 0, now, true) // no enqueue time: not a latency
	r.arrive("c", 9_990_000, now, true)
	if got, want := r.tally().latencies, []int64{1_000_000, 10_000}; !slices.Equal(got, want) {
		t.Errorf("latencies = %v, want %v", got, want)
	}
}

// TestPost sends a payload through the loopback receiver as the raw loop and River do.
func TestPost(t *testing.T) {
	r, err := newReceiver(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	c := newHTTPClient(1)
	defer c.CloseIdleConnections()
	if err := post(t.Context(), c, r.URL, "x1", 42); err != nil {
		t.Fatal(err)
	}
	got := r.tally()
	if got.distinct != 1 || !got.exact() || got.latencies[0] <= 0 {
		t.Errorf("after one post, tally = %+v", got)
	}
	if err := post(t.Context(), c, r.URL, "", 42); err == nil {
		t.Error("post without webhook-id: no error, want the receiver's 400")
	}
}
