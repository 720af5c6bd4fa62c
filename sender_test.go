package webhook_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

var epoch = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// harness is a started Sender on memstore and a fake clock, sending to a Receiver.
type harness struct {
	ctx    context.Context
	clock  *webhooktest.FakeClock
	recv   *webhooktest.Receiver
	store  *memstore.Store
	sender *webhook.Sender
	logs   *bytes.Buffer
}

func newHarness(tb testing.TB, cfg *webhook.Config) *harness {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	h := &harness{
		ctx:   ctx,
		clock: webhooktest.NewFakeClock(epoch),
		recv:  webhooktest.NewReceiver(tb),
		store: memstore.New(),
		logs:  &bytes.Buffer{},
	}
	if cfg == nil {
		cfg = &webhook.Config{}
	}
	cfg.Clock = h.clock
	cfg.AllowNetworks = webhooktest.LoopbackNetworks()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := webhook.NewSender(h.store, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	h.sender = s
	if err := s.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			tb.Errorf("Stop: %v", err)
		}
	})
	return h
}

// idle waits until the Sender has attempted and logged everything due.
func (h *harness) idle(tb testing.TB) {
	tb.Helper()
	if err := h.clock.BlockUntil(h.ctx, 1); err != nil {
		tb.Fatalf("waiting for the sender to be idle: %v", err)
	}
}

func (h *harness) save(tb testing.TB, m *webhook.Message) {
	tb.Helper()
	if err := h.sender.SaveMessage(h.ctx, m); err != nil {
		tb.Fatal(err)
	}
}

func (h *harness) attempts(tb testing.TB, f webhook.AttemptFilter) []webhook.Attempt {
	tb.Helper()
	as, err := h.sender.Attempts(h.ctx, f)
	if err != nil {
		tb.Fatal(err)
	}
	return as
}

func TestTriggerSendsPersonalizedForm(t *testing.T) {
	h := newHarness(t, nil)
	base := strings.Replace(h.recv.URL, "http://", "http://api:secret@", 1)
	h.save(t, &webhook.Message{
		ID:          "update-status",
		URL:         base + "/users/{{ user.id }}/status?level={{ parameter['newStatus'] }}",
		ContentType: webhook.Form,
		Data: []webhook.Field{
			{Key: "first_name", Value: "{{ userAttribute['first_name'] | default('there') }}"},
			{Key: "last_name", Value: "{{ userAttribute['last_name'] }}"},
		},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "updateStatus"},
	})
	if err := h.sender.Identify(h.ctx, webhook.User{ID: "u1", Attributes: map[string]any{"first_name": "Mary", "last_name": "Doe"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "updateStatus", Params: map[string]any{"newStatus": "Gold & Platinum"}}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	reqs := h.recv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.URI != "/users/u1/status?level=Gold+%26+Platinum" {
		t.Errorf("request line = %s %s, want POST /users/u1/status?level=Gold+%%26+Platinum", r.Method, r.URI)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != "api" || pass != "secret" {
		t.Errorf("basic auth = %q, %q, %v; want api, secret", user, pass, ok)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := string(r.Body); got != "first_name=Mary&last_name=Doe" {
		t.Errorf("body = %q, want first_name=Mary&last_name=Doe", got)
	}
	as := h.attempts(t, webhook.AttemptFilter{MessageID: "update-status"})
	if len(as) != 1 || as[0].Outcome != webhook.Succeeded || as[0].StatusCode != 200 {
		t.Fatalf("attempt log = %+v, want one success", as)
	}
	if id := r.Header.Get("Webhook-Id"); id != as[0].DeliveryID {
		t.Errorf("webhook-id = %q, want the delivery ID %q", id, as[0].DeliveryID)
	}
}

func TestRetrySchedule(t *testing.T) {
	h := newHarness(t, nil)
	h.recv.SetStatus(http.StatusServiceUnavailable)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "e"}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	// Step through the schedule a second at a time around each due time, so that an attempt
	// made early or late shows up in its time.
	for range 40 * 60 {
		h.clock.Advance(time.Second)
		h.idle(t)
	}
	as := h.attempts(t, webhook.AttemptFilter{})
	var got []time.Duration
	for i := len(as) - 1; i >= 0; i-- {
		got = append(got, as[i].Time.Sub(epoch))
	}
	want := []time.Duration{0, time.Minute, 3 * time.Minute, 7 * time.Minute, 15 * time.Minute, 31 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempt times after the first (-want +got):\n%s", diff)
	}
	for i, a := range as {
		wantOutcome := webhook.Retrying
		if i == 0 {
			wantOutcome = webhook.Failed
		}
		if a.Outcome != wantOutcome || a.StatusCode != 503 || a.Number != len(as)-i {
			t.Errorf("attempt %d: outcome %s, status %d, number %d; want %s, 503, %d", i, a.Outcome, a.StatusCode, a.Number, wantOutcome, len(as)-i)
		}
	}
	if n := len(h.recv.Requests()); n != 6 {
		t.Errorf("receiver got %d requests, want 6", n)
	}
}

// lockedWriter makes a buffer safe for the Sender's concurrent logging.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
