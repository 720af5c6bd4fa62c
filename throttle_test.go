package webhook_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// sendN enqueues n jobs of message id, returning their IDs.
func (h *harness) sendN(tb testing.TB, id string, n int) []string {
	tb.Helper()
	var ids []string
	for range n {
		dlv, err := h.sender.Send(h.ctx, id, "u1", nil, nil)
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, dlv)
	}
	return ids
}

// attemptTimes returns the times of the attempts in the log, oldest first, from epoch.
func (h *harness) attemptTimes(tb testing.TB) []time.Duration {
	tb.Helper()
	as := h.attempts(tb, webhook.AttemptQuery{})
	var got []time.Duration
	for i := len(as) - 1; i >= 0; i-- {
		got = append(got, as[i].Time.Sub(epoch))
	}
	return got
}

func TestHostRateLimit(t *testing.T) {
	h := newHarness(t, &webhook.Config{HostRate: 2, HostBurst: 2})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	ids := h.sendN(t, "m", 6)
	// idle returning at all shows the dispatcher does not spin on held-back jobs: it
	// waits on the clock until the next one is due.
	h.idle(t)
	if n := len(h.recv.Requests()); n != 2 {
		t.Fatalf("after the burst the receiver got %d requests, want 2", n)
	}
	held := 0
	for _, id := range ids {
		j, err := getJob(h.ctx, h.store, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == webhook.JobScheduled {
			held++
			if j.Attempts != 0 || j.Request == nil || !j.DueAt.After(epoch) {
				t.Errorf("held-back delivery: %d attempts, request %v, due %v; want 0, rendered, later", j.Attempts, j.Request != nil, j.DueAt)
			}
		}
	}
	if held != 4 {
		t.Errorf("%d deliveries held back, want 4", held)
	}
	for range 8 {
		h.clock.Advance(250 * time.Millisecond)
		h.idle(t)
	}
	ms := time.Millisecond
	want := []time.Duration{0, 0, 500 * ms, 1000 * ms, 1500 * ms, 2000 * ms}
	if diff := cmp.Diff(want, h.attemptTimes(t)); diff != "" {
		t.Errorf("attempt times (-want +got):\n%s", diff)
	}
}

func TestMessageMaxPerMinute(t *testing.T) {
	h := newHarness(t, &webhook.Config{HostRate: -1})
	h.save(t, &webhook.Message{ID: "campaign", URL: h.recv.URL + "/hook", MaxPerMinute: 2})
	h.save(t, &webhook.Message{ID: "other", URL: h.recv.URL + "/other"})
	h.sendN(t, "campaign", 3)
	h.sendN(t, "other", 3) // another message to the same host is not throttled
	h.idle(t)
	for range 4 {
		h.clock.Advance(15 * time.Second)
		h.idle(t)
	}
	var got []time.Duration
	for _, a := range h.attempts(t, webhook.AttemptQuery{MessageID: "campaign"}) {
		got = append([]time.Duration{a.Time.Sub(epoch)}, got...)
	}
	if diff := cmp.Diff([]time.Duration{0, 30 * time.Second, time.Minute}, got); diff != "" {
		t.Errorf("campaign attempt times (-want +got):\n%s", diff)
	}
	if n := len(h.attempts(t, webhook.AttemptQuery{MessageID: "other"})); n != 3 {
		t.Errorf("other message: %d attempts, want 3", n)
	}
	m := &webhook.Message{ID: "bad", URL: h.recv.URL, MaxPerMinute: -1}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "max_per_minute: must not be negative") {
		t.Errorf("Validate(MaxPerMinute -1) = %v", err)
	}
}

// A new version of a message with a higher MaxPerMinute raises its burst with its rate.
func TestMessageMaxPerMinuteChanges(t *testing.T) {
	h := newHarness(t, &webhook.Config{Workers: 1})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook", MaxPerMinute: 60}) // a burst of 1
	h.sendN(t, "m", 1)
	h.idle(t)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook", MaxPerMinute: 6000}) // of 100
	h.advance(t, time.Second)
	h.sendN(t, "m", 1) // the first delivery of version 2 changes the limit
	h.idle(t)
	h.advance(t, time.Second) // the bucket fills up to the new burst
	h.sendN(t, "m", 5)
	h.idle(t)
	if n := len(h.recv.Requests()); n != 7 {
		t.Errorf("the receiver got %d requests, want 7: the last 5 within the new burst", n)
	}
}

func TestCircuitBreaker(t *testing.T) {
	h := newHarness(t, &webhook.Config{Workers: 1, BreakerThreshold: 3, BreakerCooldown: 10 * time.Minute})
	h.recv.SetStatus(http.StatusServiceUnavailable)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	ids := h.sendN(t, "m", 5)
	h.idle(t)
	// The first three fail and open the breaker; their retries, due after a minute, and the
	// two others wait for the cool-down without using up an attempt.
	for range 9 {
		h.clock.Advance(time.Minute)
		h.idle(t)
	}
	if n := len(h.recv.Requests()); n != 3 {
		t.Fatalf("while the host is paused the receiver got %d requests in all, want 3", n)
	}
	attempted := 0
	for i, id := range ids {
		j, err := getJob(h.ctx, h.store, id)
		if err != nil {
			t.Fatal(err)
		}
		attempted += j.Attempts
		if j.State != webhook.JobScheduled || j.Attempts > 1 || !j.DueAt.Equal(epoch.Add(10*time.Minute)) {
			t.Errorf("delivery %d: %s, %d attempts, due %v; want scheduled, at most 1, at the end of the cool-down", i, j.State, j.Attempts, j.DueAt.Sub(epoch))
		}
	}
	if attempted != 3 {
		t.Errorf("the deliveries count %d attempts in all, want 3", attempted)
	}
	if !strings.Contains(h.logs.String(), "host paused after consecutive failures") {
		t.Errorf("no warning about the paused host in the logs:\n%s", h.logs)
	}
	h.recv.SetStatus(http.StatusOK)
	h.clock.Advance(time.Minute)
	h.idle(t)
	for i, id := range ids {
		if j, err := getJob(h.ctx, h.store, id); err != nil || j.State != webhook.JobSucceeded {
			t.Errorf("delivery %d after the cool-down: %+v, %v; want succeeded", i, j, err)
		}
	}
}

// The breaker counts failures in a row: a success in between starts the count again.
func TestCircuitBreakerCountsFailuresInARow(t *testing.T) {
	h := newHarness(t, &webhook.Config{Workers: 1, BreakerThreshold: 2})
	h.recv.Reply(503, 200, 503, 200, 503)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	h.sendN(t, "m", 5)
	h.idle(t)
	if n := len(h.recv.Requests()); n != 5 {
		t.Errorf("the receiver got %d requests, want 5: no two failures in a row pause the host", n)
	}
}

func TestGoneEndsTheDeliveryAndIsNoHostFailure(t *testing.T) {
	h := newHarness(t, &webhook.Config{Workers: 1, BreakerThreshold: 2})
	h.recv.SetStatus(http.StatusGone)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	h.sendN(t, "m", 4)
	h.idle(t)
	h.clock.Advance(time.Hour)
	h.idle(t)
	as := h.attempts(t, webhook.AttemptQuery{})
	if len(as) != 4 {
		t.Fatalf("got %d attempts, want 4: one per delivery, none held back", len(as))
	}
	for _, a := range as {
		if a.Outcome != webhook.Failed || a.StatusCode != http.StatusGone {
			t.Errorf("attempt = %s with %d, want failed with 410", a.Outcome, a.StatusCode)
		}
	}
}

// TestHostRateLimitIgnoresCase checks that a host's rate limit is shared by every spelling of
// its name: Hooks.Example.COM and hooks.example.com are one host, while another host has a
// limit of its own.
func TestHostRateLimitIgnoresCase(t *testing.T) {
	recv := webhooktest.NewReceiver(t)
	// Every host is the receiver, so the URLs can name any host without a name lookup.
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, recv.Server.Listener.Addr().String())
	}}
	t.Cleanup(tr.CloseIdleConnections)
	h := newHarness(t, &webhook.Config{HTTPClient: &http.Client{Transport: tr}, HostRate: 1, HostBurst: 1})
	urls := map[string]string{
		"upper": "http://Hooks.Example.COM/upper",
		"lower": "http://hooks.example.com/lower",
		"other": "http://other.example.com/other",
	}
	ids := map[string]string{}
	for name, url := range urls {
		h.save(t, &webhook.Message{ID: name, URL: url})
		ids[name] = h.sendN(t, name, 1)[0]
	}
	h.idle(t)

	sent := map[string]bool{}
	for _, r := range recv.Requests() {
		sent[strings.TrimPrefix(r.URI, "/")] = true
	}
	if len(sent) != 2 || !sent["other"] || sent["upper"] == sent["lower"] {
		t.Fatalf("sent at once: %v; want other and one of upper and lower, which share a host", sent)
	}
	held := "upper"
	if sent["upper"] {
		held = "lower"
	}
	j, err := getJob(h.ctx, h.store, ids[held])
	if err != nil {
		t.Fatal(err)
	}
	if want := epoch.Add(time.Second); j.State != webhook.JobScheduled || j.Attempts != 0 || !j.DueAt.Equal(want) {
		t.Errorf("delivery to %s is %s with %d attempts, due %v; want held back: scheduled with 0, due %v", urls[held], j.State, j.Attempts, j.DueAt, want)
	}
	h.clock.Advance(time.Second)
	h.idle(t)
	if n := len(recv.Requests()); n != 3 {
		t.Errorf("a second after the first, the receiver got %d requests, want 3", n)
	}
}

// A host whose last attempt failed gets one attempt at a time, with at most one more job
// waiting in memory for it: a host that hangs holds one worker, and the other workers keep
// sending to the hosts that answer (no head-of-line blocking).
func TestFailingHostHoldsOneWorker(t *testing.T) {
	ctx := testContext(t)
	// The slow host answers 500 to each request once the test releases it, and counts the
	// requests it holds at once.
	arrived, release := make(chan string, 100), make(chan struct{})
	var holding, most atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := holding.Add(1)
		defer holding.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		arrived <- r.URL.Path
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(slow.Close)
	fast := webhooktest.NewReceiver(t)
	s, clock := webhooktest.NewSender(t, memstore.New(), &webhook.Config{Workers: 2, BreakerThreshold: -1})
	for id, url := range map[string]string{"slow": slow.URL, "fast": fast.URL} {
		if err := s.SaveMessage(ctx, &webhook.Message{ID: id, URL: url + "/{{ user.id }}"}); err != nil {
			t.Fatal(err)
		}
	}
	webhooktest.Start(t, s)
	send := func(id string, users ...string) {
		for _, u := range users {
			if _, err := s.Send(ctx, id, u, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The slow host fails once, so it is a failing host.
	send("slow", "first")
	<-arrived
	release <- struct{}{}
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Now it hangs, with three jobs for it among four for the fast host. With two workers, the
	// fast host's jobs all arrive while the slow host holds its request.
	send("slow", "a", "b", "c")
	send("fast", "1", "2", "3", "4")
	<-arrived
	if _, err := fast.Wait(ctx, 4); err != nil {
		t.Fatalf("the fast host's jobs did not all arrive while the slow host hung: %v", err)
	}
	// Then it answers each request in turn.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-arrived:
				release <- struct{}{}
			case <-stop:
				return
			}
		}
	}()
	release <- struct{}{}
	err := clock.BlockUntil(ctx, 1)
	close(stop)
	<-stopped
	if err != nil {
		t.Fatal(err)
	}
	if n := most.Load(); n != 1 {
		t.Errorf("the failing host held %d requests at once, want 1", n)
	}
	as, err := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	// The first, and the one that hung; the job parked for it went when it ended, and the
	// third waits for the deadline of the one in flight, unless it came when none was.
	if len(as) < 3 {
		t.Errorf("the slow host had %d attempts before the clock moved, want at least 3: %+v", len(as), as)
	}
}
