package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
	"go.uber.org/goleak"
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
	c := webhook.Config{}
	if cfg != nil {
		c = *cfg
	}
	c.Clock = h.clock
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h.sender, _ = webhooktest.NewSender(tb, h.store, &c)
	webhooktest.Start(tb, h.sender)
	return h
}

// idle waits until the Sender has attempted and logged everything due.
func (h *harness) idle(tb testing.TB) {
	tb.Helper()
	if err := h.clock.BlockUntil(h.ctx, 1); err != nil {
		tb.Fatalf("waiting for the sender to be idle: %v", err)
	}
}

// triggerAndRetry reports e, then advances the clock an hour at a time, six times, so that
// every job e enqueues makes all the attempts the default retry policy allows.
func (h *harness) triggerAndRetry(tb testing.TB, e webhook.Event) {
	tb.Helper()
	h.trigger(tb, e)
	h.idle(tb)
	for range 6 {
		h.advance(tb, time.Hour)
	}
}

func (h *harness) save(tb testing.TB, m *webhook.Message) {
	tb.Helper()
	if err := h.sender.SaveMessage(h.ctx, m); err != nil {
		tb.Fatal(err)
	}
}

func (h *harness) attempts(tb testing.TB, f webhook.AttemptQuery) []webhook.Attempt {
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
	as := h.attempts(t, webhook.AttemptQuery{MessageID: "update-status"})
	if len(as) != 1 || as[0].Outcome != webhook.Succeeded || as[0].StatusCode != 200 {
		t.Fatalf("attempt log = %+v, want one success", as)
	}
	if id := r.Header.Get("Webhook-Id"); id != as[0].JobID {
		t.Errorf("webhook-id = %q, want the delivery ID %q", id, as[0].JobID)
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
	as := h.attempts(t, webhook.AttemptQuery{})
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

// sendOnce triggers one job of a message to the receiver and returns its first attempt.
func (h *harness) sendOnce(tb testing.TB, m *webhook.Message) webhook.Attempt {
	tb.Helper()
	if m.Delivery.Kind == "" {
		m.Delivery = webhook.Delivery{Kind: webhook.Triggered, Event: "e"}
	}
	h.save(tb, m)
	if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: m.Delivery.Event}); err != nil {
		tb.Fatal(err)
	}
	h.idle(tb)
	as := h.attempts(tb, webhook.AttemptQuery{MessageID: m.ID})
	if len(as) != 1 {
		tb.Fatalf("got %d attempts, want 1: %+v", len(as), as)
	}
	return as[0]
}

func TestStatusOutcomes(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   webhook.Outcome
	}{
		{200, webhook.Succeeded}, {201, webhook.Succeeded}, {202, webhook.Succeeded}, {204, webhook.Succeeded},
		{408, webhook.Retrying}, {409, webhook.Retrying}, {429, webhook.Retrying},
		{500, webhook.Retrying}, {502, webhook.Retrying}, {503, webhook.Retrying}, {504, webhook.Retrying}, {599, webhook.Retrying},
		{301, webhook.Failed}, {302, webhook.Failed}, {304, webhook.Failed}, {400, webhook.Failed}, {401, webhook.Failed},
		{403, webhook.Failed}, {404, webhook.Failed}, {405, webhook.Failed}, {410, webhook.Failed}, {413, webhook.Failed},
		{422, webhook.Failed}, {451, webhook.Failed},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			h := newHarness(t, nil)
			h.recv.Reply(tt.status)
			a := h.sendOnce(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
			if a.Outcome != tt.want || a.StatusCode != tt.status {
				t.Fatalf("attempt = %s with status %d, want %s with %d", a.Outcome, a.StatusCode, tt.want, tt.status)
			}
			j, err := getJob(h.ctx, h.store, a.JobID)
			if err != nil {
				t.Fatal(err)
			}
			wantState := map[webhook.Outcome]webhook.JobState{webhook.Succeeded: webhook.JobSucceeded, webhook.Retrying: webhook.JobScheduled, webhook.Failed: webhook.JobFailed}[tt.want]
			if j.State != wantState {
				t.Errorf("delivery state = %s, want %s", j.State, wantState)
			}
			if tt.want == webhook.Retrying {
				if want := epoch.Add(time.Minute); !a.NextAttemptAt.Equal(want) || !j.DueAt.Equal(want) {
					t.Errorf("next attempt at %v, due %v; want %v", a.NextAttemptAt, j.DueAt, want)
				}
			} else if !a.NextAttemptAt.IsZero() {
				t.Errorf("NextAttemptAt = %v for a final outcome", a.NextAttemptAt)
			}
			if (tt.want == webhook.Succeeded) != (a.Err == "") {
				t.Errorf("Err = %q for outcome %s", a.Err, a.Outcome)
			}
		})
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	h := newHarness(t, nil)
	followed := webhooktest.NewReceiver(t)
	redirector := httptest.NewServer(http.RedirectHandler(followed.URL+"/elsewhere", http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)
	a := h.sendOnce(t, &webhook.Message{ID: "m", URL: redirector.URL + "/hook"})
	if a.Outcome != webhook.Failed || a.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("attempt = %s with %d, want failed with 307", a.Outcome, a.StatusCode)
	}
	if n := len(followed.Requests()); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
}

func TestNetworkErrorsAreRetried(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		h := newHarness(t, nil)
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close() // nothing listens on its port now
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: closed.URL + "/hook"})
		if a.Outcome != webhook.Retrying || a.StatusCode != 0 || !strings.Contains(a.Err, "refused") {
			t.Errorf("attempt = %s, status %d, error %q; want retrying after connection refused", a.Outcome, a.StatusCode, a.Err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		h := newHarness(t, &webhook.Config{RequestTimeout: 50 * time.Millisecond})
		hang := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(hang); slow.Close() })
		a := h.sendOnce(t, &webhook.Message{ID: "m", URL: slow.URL + "/hook"})
		if a.Outcome != webhook.Retrying || !strings.Contains(a.Err, "deadline exceeded") {
			t.Errorf("attempt = %s, error %q; want retrying after a timeout", a.Outcome, a.Err)
		}
	})
}

// sendOnceOn starts a Sender with cfg (its Clock and Logger set here) on store, sends one
// message to recv, waits until the Sender is idle, and returns the attempt log.
func sendOnceOn(tb testing.TB, store webhook.Store, cfg webhook.Config, recv *webhooktest.Receiver) []webhook.Attempt {
	tb.Helper()
	ctx := context.Background()
	cfg.Clock, cfg.Logger = webhooktest.NewFakeClock(epoch), slog.New(slog.DiscardHandler)
	s, clock := webhooktest.NewSender(tb, store, &cfg)
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: recv.URL + "/hook"}); err != nil {
		tb.Fatal(err)
	}
	webhooktest.Start(tb, s)
	if _, err := s.Send(ctx, "m", "u1", nil, nil); err != nil {
		tb.Fatal(err)
	}
	if err := clock.BlockUntil(ctx, 1); err != nil {
		tb.Fatal(err)
	}
	as, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		tb.Fatal(err)
	}
	return as
}

func TestGuardBlocksLoopbackByDefault(t *testing.T) {
	recv := webhooktest.NewReceiver(t)
	// An empty AllowNetworks, not nil, is the default of a Sender outside tests: no network.
	as := sendOnceOn(t, memstore.New(), webhook.Config{AllowNetworks: []netip.Prefix{}}, recv)
	if len(as) != 1 || as[0].Outcome != webhook.Blocked {
		t.Fatalf("attempts = %+v, want one blocked", as)
	}
	for _, want := range []string{"127.0.0.1", "127.0.0.0/8", "AllowNetworks"} {
		if !strings.Contains(as[0].Err, want) {
			t.Errorf("error %q does not mention %q", as[0].Err, want)
		}
	}
	if n := len(recv.Requests()); n != 0 {
		t.Errorf("the receiver got %d requests, want 0", n)
	}
}

// A URL host that is an IPv4 address written other than in dotted decimal is rejected by
// SaveMessage when it is literal, and ends a job as blocked, never retried and never
// dialed, when it is rendered; even with a client that has no guard.
func TestNumericHostFormsAreRefused(t *testing.T) {
	forms := []string{"2130706433", "0177.0.0.1", "127.1", "0x7f.1", "127.0.0.1.", "0xa9fea9fe"}
	var dialed atomic.Int64
	client := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		dialed.Add(1)
		return nil, errors.New("test transport: not dialing")
	}}}
	h := newHarness(t, &webhook.Config{HTTPClient: client})
	for _, host := range forms {
		err := h.sender.SaveMessage(h.ctx, &webhook.Message{ID: "literal", URL: "http://user:pw@" + host + ":8080/hook?x={{ parameter.x }}"})
		var ve *webhook.ValidationError
		if !errors.As(err, &ve) || ve.Problems[0].Path != "url" || !strings.Contains(err.Error(), "dotted decimal") {
			t.Errorf("SaveMessage(URL with host %s) = %v, want a problem at url saying it is not dotted decimal", host, err)
		}
	}
	h.save(t, &webhook.Message{ID: "m", URL: "http://{{ parameter.host }}:8080/hook"})
	for _, host := range forms {
		if _, err := h.sender.Send(h.ctx, "m", "u1", map[string]any{"host": host}, nil); err != nil {
			t.Fatal(err)
		}
	}
	h.idle(t)
	h.advance(t, time.Hour) // a retry would be due
	as := h.attempts(t, webhook.AttemptQuery{MessageID: "m"})
	if len(as) != len(forms) {
		t.Errorf("got %d attempts, want %d: one each, never retried", len(as), len(forms))
	}
	for _, a := range as {
		if a.Outcome != webhook.Blocked || !strings.Contains(a.Err, "dotted decimal") {
			t.Errorf("attempt = %s, error %q; want blocked for the host's form", a.Outcome, a.Err)
		}
	}
	if n := dialed.Load(); n != 0 {
		t.Errorf("the transport dialed %d times, want 0", n)
	}
}

// NewSender lists every problem of a Config, in the order of its fields.
func TestNewSenderListsConfigProblems(t *testing.T) {
	_, err := webhook.NewSender(memstore.New(), &webhook.Config{
		Workers: -1, RequestTimeout: -1, UserAgent: "a\nb", MaxResponseBody: -1, Lease: -1,
		PollInterval: -1, HostBurst: -1, BreakerCooldown: -1,
	})
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, webhook.ErrInvalid) {
		t.Fatalf("NewSender = %v, want a *ValidationError wrapping ErrInvalid", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"Workers: must not be negative", "RequestTimeout: must not be negative",
		"MaxResponseBody: must not be negative", "Lease: must not be negative",
		"PollInterval: must not be negative", "HostBurst: must not be negative",
		"BreakerCooldown: must not be negative", "Lease: -1ns does not exceed RequestTimeout (-1ns)",
		"UserAgent: contains a line break",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// A connection the guard refuses says nothing of the host's health: it does not count toward
// the circuit breaker, so later jobs to the host are refused too, not held back.
func TestBlockedAttemptsDoNotTripTheBreaker(t *testing.T) {
	ctx := t.Context()
	clock := webhooktest.NewFakeClock(epoch)
	s, _ := webhooktest.NewSender(t, memstore.New(), &webhook.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler), Workers: 1, BreakerThreshold: 1,
		AllowNetworks: []netip.Prefix{}}) // no network: every attempt is blocked
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: "http://127.0.0.1:9/hook"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"u1", "u2", "u3"} {
		if _, err := s.Send(ctx, "m", u, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	webhooktest.Start(t, s)
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	as, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 3 {
		t.Fatalf("got %d attempts, want 3 blocked: %+v", len(as), as)
	}
	for _, a := range as {
		if a.Outcome != webhook.Blocked {
			t.Errorf("attempt for %s is %s, want blocked", a.UserID, a.Outcome)
		}
	}
}

func TestRenderFailureIsLoggedNotRetried(t *testing.T) {
	h := newHarness(t, nil)
	a := h.sendOnce(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook", Data: []webhook.Field{{Key: "n", Value: "{{ userAttribute.name }}"}}})
	if a.Outcome != webhook.Failed || !strings.Contains(a.Err, "missing variable userAttribute.name") || a.URL != "" {
		t.Errorf("attempt = %s, error %q, URL %q; want failed for the missing variable, with no request", a.Outcome, a.Err, a.URL)
	}
	h.clock.Advance(time.Hour)
	h.idle(t)
	if n := len(h.recv.Requests()); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
	if as := h.attempts(t, webhook.AttemptQuery{}); len(as) != 1 {
		t.Errorf("got %d attempts after an hour, want 1", len(as))
	}
}

func TestRetriesResendTheSameBytes(t *testing.T) {
	h := newHarness(t, nil)
	h.recv.Reply(500, 500)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/{{ user.id }}", Data: []webhook.Field{{Key: "name", Value: "{{ userAttribute.name }}"}, {Key: "at", Value: "{{ now }}"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	if err := h.sender.Identify(h.ctx, webhook.User{ID: "u1", Attributes: map[string]any{"name": "Ann"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "e"}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	// Change what a new rendering would produce: the user, the message and the time.
	if err := h.sender.Identify(h.ctx, webhook.User{ID: "u1", Attributes: map[string]any{"name": "Bob"}}); err != nil {
		t.Fatal(err)
	}
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/v2", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	h.clock.Advance(time.Minute)
	h.idle(t)
	h.clock.Advance(2 * time.Minute)
	h.idle(t)
	reqs := h.recv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs[1:] {
		if r.URI != reqs[0].URI || !bytes.Equal(r.Body, reqs[0].Body) || r.Header.Get("Webhook-Id") != reqs[0].Header.Get("Webhook-Id") {
			t.Errorf("retry %d = %s %s (id %s), want the first attempt's %s %s (id %s)", i+1, r.URI, r.Body,
				r.Header.Get("Webhook-Id"), reqs[0].URI, reqs[0].Body, reqs[0].Header.Get("Webhook-Id"))
		}
	}
	if want := `{"name":"Ann","at":"2026-11-23T09:00:00Z"}`; string(reqs[0].Body) != want {
		t.Errorf("body = %s, want %s", reqs[0].Body, want)
	}
}

func TestEnqueuedDeliveriesKeepTheirMessageVersion(t *testing.T) {
	h := newHarness(t, nil)
	m := &webhook.Message{ID: "m", URL: h.recv.URL + "/v1", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}}
	h.save(t, m)
	if err := h.sender.Stop(h.ctx); err != nil { // enqueue while stopped
		t.Fatal(err)
	}
	if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "e"}); err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 {
		t.Errorf("first save set Version %d, want 1", m.Version)
	}
	s2, _ := webhooktest.NewSender(t, h.store, &webhook.Config{Clock: h.clock})
	// Saved through s2, version 2 is the one s2 has compiled when it sends the delivery.
	if err := s2.SaveMessage(h.ctx, &webhook.Message{ID: "m", URL: h.recv.URL + "/v2", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}}); err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	defer s2.Stop(h.ctx)
	h.idle(t)
	reqs := h.recv.Requests()
	if len(reqs) != 1 || reqs[0].URI != "/v1" {
		t.Fatalf("requests = %+v, want one to /v1", reqs)
	}
}

func TestTriggerIsIdempotentWithEventID(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "purchase"}})
	h.save(t, &webhook.Message{ID: "other", URL: h.recv.URL + "/other", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup"}})
	for range 3 {
		if err := h.sender.Trigger(h.ctx, webhook.Event{ID: "order-17", UserID: "u1", Name: "purchase"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "purchase"}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	reqs := h.recv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2: one for order-17 and one for the event without an ID", len(reqs))
	}
	for _, r := range reqs {
		if r.URI != "/hook" {
			t.Errorf("request to %s, want /hook only", r.URI)
		}
	}
}

func TestSecretsStaySecret(t *testing.T) {
	h := newHarness(t, nil)
	h.recv.SetStatus(http.StatusInternalServerError)
	base := strings.Replace(h.recv.URL, "http://", "http://api:hunter2-url@", 1)
	h.save(t, &webhook.Message{ID: "basic", URL: base + "/hook?api_key=hunter2-query&user={{ user.id }}", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	h.save(t, &webhook.Message{ID: "bearer", URL: h.recv.URL + "/hook", Headers: []webhook.Field{
		{Key: "Authorization", Value: "Bearer hunter2-header"},
		{Key: "X-Api-Key", Value: "hunter2-apikey"},
	}, Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	h.triggerAndRetry(t, webhook.Event{UserID: "u1", Name: "e"})
	as := h.attempts(t, webhook.AttemptQuery{})
	if len(as) != 12 {
		t.Fatalf("got %d attempts, want 12", len(as))
	}
	logged, err := json.Marshal(as)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"attempt log": string(logged), "slog output": h.logs.String()} {
		if strings.Contains(text, "hunter2") {
			t.Errorf("the %s holds a secret:\n%s", name, text)
		}
		if !strings.Contains(text, "REDACTED") && name == "attempt log" {
			t.Errorf("the %s does not show where secrets were redacted", name)
		}
	}
	// The receiver did get the credentials.
	r := h.recv.Requests()[0]
	if !strings.Contains(r.URI+r.Header.Get("Authorization"), "hunter2") {
		t.Errorf("the receiver got no credentials: %+v", r)
	}
}

func TestStartTwice(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.sender.Start(h.ctx); !errors.Is(err, webhook.ErrSenderStarted) {
		t.Errorf("second Start = %v, want ErrSenderStarted", err)
	}
}

// Cancelling Start's context stops the Sender as Stop does with an expired context: the send
// in flight is cancelled and its job put back in the queue, unlogged.
func TestCancellingStartContextStopsTheSender(t *testing.T) {
	url, arrived, _ := gatedServer(t)
	store := memstore.New()
	s, _ := webhooktest.NewSender(t, store, &webhook.Config{Clock: webhooktest.NewFakeClock(epoch), Logger: slog.New(slog.DiscardHandler), RequestTimeout: 5 * time.Second})
	if err := s.SaveMessage(t.Context(), &webhook.Message{ID: "m", URL: url + "/hook"}); err != nil {
		t.Fatal(err)
	}
	id, err := s.Send(t.Context(), "m", "u1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-arrived
	cancel()
	if err := s.Stop(t.Context()); err != nil { // waits until the dispatcher has returned
		t.Fatalf("Stop = %v", err)
	}
	j, err := getJob(t.Context(), store, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != webhook.JobScheduled || j.Attempts != 0 {
		t.Errorf("delivery is %s with %d attempts, want scheduled with 0", j.State, j.Attempts)
	}
	if as, _ := s.Attempts(t.Context(), webhook.AttemptQuery{}); len(as) != 0 {
		t.Errorf("logged %d attempts, want 0: %+v", len(as), as)
	}
}

func TestStopCancelsAndRequeuesInFlight(t *testing.T) {
	h := newHarness(t, nil)
	arrived := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice when the Sender hangs up.
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	h.save(t, &webhook.Message{ID: "m", URL: hang.URL + "/hook"})
	id, err := h.sender.Send(h.ctx, "m", "u1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-arrived
	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	if err := h.sender.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Stop(cancelled) = %v, want context.Canceled", err)
	}
	j, err := getJob(h.ctx, h.store, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != webhook.JobScheduled || j.Attempts != 0 || j.LeaseOwner != "" {
		t.Errorf("after a hard stop the delivery is %s with %d attempts, lease %q; want scheduled, 0, none", j.State, j.Attempts, j.LeaseOwner)
	}
	if as := h.attempts(t, webhook.AttemptQuery{}); len(as) != 0 {
		t.Errorf("a cancelled send was logged: %+v", as)
	}
}

// Stop closes the keep-alive connections of the Sender's own client: when it returns, neither
// the Sender's goroutines nor those of its connections (two on each side) are left, while
// the receiver, which could otherwise close them, is still running.
func TestStopLeavesNoGoroutines(t *testing.T) {
	recv := webhooktest.NewReceiver(t)
	leaks := goleak.IgnoreCurrent()
	clock := webhooktest.NewFakeClock(epoch)
	s, _ := webhooktest.NewSender(t, memstore.New(), &webhook.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	ctx := t.Context()
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: recv.URL + "/hook"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := s.Send(ctx, "m", fmt.Sprint("u", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := recv.Wait(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntil(ctx, 1); err != nil { // idle: every attempt logged
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, leaks)
}

func TestSendAndInputErrors(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.sender.Send(h.ctx, "nope", "u1", nil, nil); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Send(unknown message) = %v, want ErrNotFound", err)
	}
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/{{ parameter.path }}"})
	for name, err := range map[string]error{
		"Send without user": func() error { _, err := h.sender.Send(h.ctx, "m", "", nil, nil); return err }(),
		"Send with a func param": func() error {
			_, err := h.sender.Send(h.ctx, "m", "u1", map[string]any{"f": func() {}}, nil)
			return err
		}(),
		"Trigger without user":       h.sender.Trigger(h.ctx, webhook.Event{Name: "e"}),
		"Trigger without name":       h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1"}),
		"Trigger with NaN":           h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "e", Params: map[string]any{"x": math.NaN()}}),
		"Identify without ID":        h.sender.Identify(h.ctx, webhook.User{}),
		"Identify with bad timezone": h.sender.Identify(h.ctx, webhook.User{ID: "u1", TimeZone: "Mars/Olympus"}),
	} {
		if !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("%s = %v, want ErrInvalid", name, err)
		}
	}
	id, err := h.sender.Send(h.ctx, "m", "u9", map[string]any{"path": "manual"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	reqs := h.recv.Requests()
	if len(reqs) != 1 || reqs[0].URI != "/manual" || reqs[0].Header.Get("Webhook-Id") != id {
		t.Errorf("requests = %+v, want one to /manual with webhook-id %s", reqs, id)
	}
}

// userCounter is a Store that counts the users it is asked for.
type userCounter struct {
	webhook.Store
	n atomic.Int64
}

func (s *userCounter) Users(ctx context.Context, q webhook.UserQuery) ([]webhook.User, error) {
	s.n.Add(1)
	return s.Store.Users(ctx, q)
}

// TestUserNotLoadedWhenTemplatesDoNotReadIt checks that a job whose templates read
// nothing of the user but its ID is sent without asking the Store for the user.
func TestUserNotLoadedWhenTemplatesDoNotReadIt(t *testing.T) {
	recv := webhooktest.NewReceiver(t)
	store := &userCounter{Store: memstore.New()}
	as := sendOnceOn(t, store, webhook.Config{AllowNetworks: webhooktest.LoopbackNetworks()}, recv)
	if len(as) != 1 || as[0].Outcome != webhook.Succeeded {
		t.Fatalf("attempts = %+v, want one success", as)
	}
	if n := store.n.Load(); n != 0 {
		t.Errorf("the Store was asked for a user %d times, want 0", n)
	}
}

// TestUserLoadedOnlyWhenTemplatesReadIt checks that a job is rendered without asking the
// Store for its user when its templates, however they are written, read nothing of the user
// but its ID, and with it when they read more; the request is the same either way.
func TestUserLoadedOnlyWhenTemplatesReadIt(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		data  string
		reads bool
		want  string
	}{
		{"{{ parameter.n | default(0) }}", false, `{"d":7}`},
		{"{{ user.id | upper }}-{{ parameter.n if parameter.n else 0 }}", false, `{"d":"U1-7"}`},
		{"{% for i in range(2) %}{{ user['id'] ~ i }}{% endfor %}", false, `{"d":"u10u11"}`},
		{"{{ userAttribute.plan | default('none') }}", true, `{"d":"gold"}`},
		{"{{ user.email }}", true, `{"d":"u1@example.com"}`},
		{"{% set u = user %}{{ u.id }}", true, `{"d":"u1"}`},
	} {
		recv := webhooktest.NewReceiver(t)
		store := &userCounter{Store: memstore.New()}
		if err := putUser(ctx, store, webhook.User{ID: "u1", Email: "u1@example.com", Attributes: map[string]any{"plan": "gold"}}); err != nil {
			t.Fatal(err)
		}
		cfg := &webhook.Config{AllowNetworks: webhooktest.LoopbackNetworks(), Logger: slog.New(slog.DiscardHandler)}
		s, clock := webhooktest.NewSender(t, store, cfg)
		if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: recv.URL + "/hook", Data: []webhook.Field{{Key: "d", Value: tt.data}}}); err != nil {
			t.Fatal(err)
		}
		webhooktest.Start(t, s)
		store.n.Store(0)
		if _, err := s.Send(ctx, "m", "u1", map[string]any{"n": 7}, nil); err != nil {
			t.Fatal(err)
		}
		if err := clock.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if reqs := recv.Requests(); len(reqs) != 1 || string(reqs[0].Body) != tt.want {
			t.Errorf("%s: requests = %+v, want one with body %s", tt.data, reqs, tt.want)
		}
		if n := store.n.Load(); (n > 0) != tt.reads {
			t.Errorf("%s: the Store was asked for a user %d times; want some: %v", tt.data, n, tt.reads)
		}
	}
}

// staleHolder is a Store that says every job's lease has passed to another Sender, as
// it does to a Sender that held a job past its lease.
type staleHolder struct {
	*memstore.Store
}

func (staleHolder) Finish(_ context.Context, p webhook.FinishParams) ([]error, error) {
	errs := make([]error, len(p.Jobs))
	for i := range errs {
		errs[i] = webhook.ErrLeaseLost
	}
	return errs, nil
}

// TestLeaseLostIsLoggedAsWarning checks that a Sender whose Store says it no longer holds a
// job's lease logs one warning naming the job, not a Store error, and no secret of
// the request it sent.
func TestLeaseLostIsLoggedAsWarning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clock := webhooktest.NewFakeClock(epoch)
	recv := webhooktest.NewReceiver(t)
	var logs bytes.Buffer
	s, _ := webhooktest.NewSender(t, staleHolder{memstore.New()}, &webhook.Config{Clock: clock,
		Logger: slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	base := strings.Replace(recv.URL, "http://", "http://api:hunter2-basic@", 1)
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: base + "/hook?token=hunter2-query",
		Headers: []webhook.Field{{Key: "X-Api-Key", Value: "hunter2-key"}}}); err != nil {
		t.Fatal(err)
	}
	id, err := s.Send(ctx, "m", "u1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	reqs := recv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(reqs))
	}
	if r := reqs[0]; !strings.Contains(r.URI, "hunter2-query") || r.Header.Get("X-Api-Key") != "hunter2-key" {
		t.Fatalf("the receiver got no secrets: %+v", r) // so their absence from the log means something
	}

	// Stop has returned, so nothing writes to logs any more.
	const msg = "webhook: job lease lost; another sender has it"
	var lost []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec[slog.LevelKey] == "ERROR" {
			t.Errorf("logged at error level: %s", line)
		}
		if rec[slog.MessageKey] == msg {
			lost = append(lost, rec)
		}
	}
	if len(lost) != 1 {
		t.Fatalf("logged %q %d times, want once:\n%s", msg, len(lost), logs.String())
	}
	if got := lost[0][slog.LevelKey]; got != "WARN" {
		t.Errorf("lease lost logged at level %v, want WARN", got)
	}
	if got := lost[0]["job_id"]; got != id {
		t.Errorf("lease lost logged with job_id %v, want %s", got, id)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("api:hunter2-basic"))
	for _, secret := range []string{"hunter2", basic} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds the secret %q:\n%s", secret, logs.String())
		}
	}
}

// A job keeps its rendered request, credentials and all, only while a retry may send it
// again: once it has succeeded or failed for good, its job holds no request.
func TestFinishedDeliveryKeepsNoRequest(t *testing.T) {
	h := newHarness(t, nil)
	h.recv.Reply(503, 400) // u1's first attempt is retried; u2's fails for good
	url := strings.Replace(h.recv.URL, "http://", "http://hook:s3cret@", 1)
	h.save(t, &webhook.Message{ID: "m", URL: url + "/hook", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	job := func(user string) *webhook.Job {
		t.Helper()
		as := h.attempts(t, webhook.AttemptQuery{UserID: user, Limit: 1})
		if len(as) != 1 {
			t.Fatalf("%s has %d attempts, want 1", user, len(as))
		}
		j, err := getJob(h.ctx, h.store, as[0].JobID)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	for _, u := range []string{"u1", "u2"} {
		if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: u, Name: "e"}); err != nil {
			t.Fatal(err)
		}
		h.idle(t)
	}
	if j := job("u1"); j.State != webhook.JobScheduled || j.Request == nil || j.Request.Header.Get("Authorization") == "" {
		t.Errorf("delivery waiting for its retry: state %s, request %+v; want scheduled, with its request and credentials", j.State, j.Request)
	}
	if j := job("u2"); j.State != webhook.JobFailed || j.Request != nil {
		t.Errorf("delivery failed for good: state %s, request %+v; want failed, with no request", j.State, j.Request)
	}
	h.clock.Advance(time.Minute)
	h.idle(t)
	if j := job("u1"); j.State != webhook.JobSucceeded || j.Request != nil {
		t.Errorf("delivery sent on its retry: state %s, request %+v; want succeeded, with no request", j.State, j.Request)
	}
}

// An error says "webhook: " once, however deep the sentinel it wraps, and still wraps it.
func TestErrorsSayTheirPrefixOnce(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.sender.Send(h.ctx, "nope", "u1", nil, nil)
	if want := `webhook: send "nope": not found`; err == nil || err.Error() != want || !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Send(unknown) = %v, want %q wrapping ErrNotFound", err, want)
	}
	_, err = h.sender.Preview(h.ctx, &webhook.Message{ID: "m", URL: "https://example.com/{{ nothing }}"}, "u1", nil)
	if want := "render url: line 1: missing variable nothing: give it a fallback with | default(...)"; err == nil || err.Error() != want || !errors.Is(err, webhook.ErrMissingVariable) {
		t.Errorf("Preview(missing variable) = %v, want %q wrapping ErrMissingVariable", err, want)
	}
	if !strings.HasPrefix(webhook.ErrMissingVariable.Error(), "webhook: ") {
		t.Errorf("ErrMissingVariable = %q, want the package's prefix", webhook.ErrMissingVariable)
	}
}
