package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// identify saves users through the Sender.
func (h *harness) identify(tb testing.TB, users ...webhook.User) {
	tb.Helper()
	for _, u := range users {
		if err := h.sender.Identify(h.ctx, u); err != nil {
			tb.Fatal(err)
		}
	}
}

func (h *harness) trigger(tb testing.TB, e webhook.Event) {
	tb.Helper()
	if err := h.sender.Trigger(h.ctx, e); err != nil {
		tb.Fatal(err)
	}
}

// sentTo returns the user IDs of the requests the receiver got, from the path /u/{id}.
func (h *harness) sentTo() []string {
	var out []string
	for _, r := range h.recv.Requests() {
		out = append(out, strings.TrimPrefix(r.URI, "/u/"))
	}
	return out
}

func TestTriggerChecksAudienceAndEventFilters(t *testing.T) {
	h := newHarness(t, nil)
	h.identify(t,
		webhook.User{ID: "gold", Attributes: webhook.Map{"plan": "gold"}},
		webhook.User{ID: "free", Attributes: webhook.Map{"plan": "free"}},
	)
	h.save(t, &webhook.Message{
		ID: "gold-buyers", URL: h.recv.URL + "/u/{{ user.id }}",
		Audience: webhook.Attr("plan", webhook.OpEq, "gold"),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "buy", Where: []webhook.Condition{
			{Key: "amount", Op: webhook.OpGte, Value: 10},
			{Key: "currency", Op: webhook.OpIn, Value: []any{"EUR", "USD"}},
		}},
	})
	for _, e := range []webhook.Event{
		{UserID: "gold", Name: "buy", Params: webhook.Map{"amount": 20, "currency": "EUR"}},                // sent
		{UserID: "free", Name: "buy", Params: webhook.Map{"amount": 20, "currency": "EUR"}},                // not in the audience
		{UserID: "gold", Name: "buy", Params: webhook.Map{"amount": 5, "currency": "EUR"}},                 // too small
		{UserID: "gold", Name: "buy", Params: webhook.Map{"amount": "20", "currency": "EUR"}},              // sent: a numeric string
		{UserID: "gold", Name: "buy", Params: webhook.Map{"amount": 10, "currency": "GBP"}},                // other currency
		{UserID: "gold", Name: "buy", Params: webhook.Map{"amount": 10.5, "currency": "USD"}, ID: "again"}, // sent
		{UserID: "nobody", Name: "buy", Params: webhook.Map{"amount": 20, "currency": "EUR"}},              // no attributes
	} {
		h.trigger(t, e)
	}
	h.idle(t)
	if got, want := h.sentTo(), []string{"gold", "gold", "gold"}; !slicesEqual(got, want) {
		t.Errorf("sent to %v, want %v", got, want)
	}
	if as := h.attempts(t, webhook.AttemptQuery{}); len(as) != 3 {
		t.Errorf("got %d attempts, want 3 (filtered events enqueue nothing)", len(as))
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestTriggerCountsTheEventItself(t *testing.T) {
	h := newHarness(t, nil)
	// "From the third purchase in a week": the triggering purchase counts.
	h.save(t, &webhook.Message{
		ID: "third", URL: h.recv.URL + "/u/{{ user.id }}",
		Audience: webhook.Did("buy", 7*days, webhook.OpGte, 3),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "buy"},
	})
	for i := range 4 {
		h.trigger(t, webhook.Event{UserID: "u1", Name: "buy"})
		h.idle(t)
		if got, want := len(h.recv.Requests()), max(0, i-1); got != want {
			t.Fatalf("after purchase %d: %d requests, want %d", i+1, got, want)
		}
	}
	// A week later the old purchases have left the window.
	h.clock.Advance(7*days + time.Second)
	h.idle(t)
	h.trigger(t, webhook.Event{UserID: "u1", Name: "buy"})
	h.idle(t)
	if got := len(h.recv.Requests()); got != 2 {
		t.Errorf("a week later: %d requests, want still 2", got)
	}
}

// TestTriggerCountsTheEventOnlyWhereItMatches checks that the triggering event counts toward
// an event criterion only if that criterion would select it from the Store: its name, its
// time in the window and its parameters. CheckAudienceOnce leaves the check at enqueue alone,
// when the event is not yet in the Store.
func TestTriggerCountsTheEventOnlyWhereItMatches(t *testing.T) {
	for _, tt := range []struct {
		name     string
		audience webhook.Audience
		event    webhook.Event
		want     int // requests
	}{
		{"counted", webhook.Did("buy", 7*days, webhook.OpGte, 1),
			webhook.Event{UserID: "u1", Name: "buy"}, 1},
		{"other event", webhook.Did("signup", 7*days, webhook.OpGte, 1),
			webhook.Event{UserID: "u1", Name: "buy"}, 0},
		{"before the window", webhook.Did("buy", 7*days, webhook.OpGte, 1),
			webhook.Event{UserID: "u1", Name: "buy", Time: epoch.Add(-8 * days)}, 0},
		{"after now", webhook.Did("buy", 7*days, webhook.OpGte, 1),
			webhook.Event{UserID: "u1", Name: "buy", Time: epoch.Add(time.Hour)}, 0},
		{"where met", webhook.Did("buy", 7*days, webhook.OpGte, 1).WhereParam("big", webhook.OpEq, true),
			webhook.Event{UserID: "u1", Name: "buy", Params: webhook.Map{"big": true}}, 1},
		{"where not met", webhook.Did("buy", 7*days, webhook.OpGte, 1).WhereParam("big", webhook.OpEq, true),
			webhook.Event{UserID: "u1", Name: "buy", Params: webhook.Map{"big": false}}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.save(t, &webhook.Message{
				ID: "m", URL: h.recv.URL + "/u/{{ user.id }}", CheckAudienceOnce: true, Audience: tt.audience,
				Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "buy"},
			})
			h.trigger(t, tt.event)
			h.idle(t)
			if got := len(h.recv.Requests()); got != tt.want {
				t.Errorf("%s triggered by %+v: %d requests, want %d", mustJSON(t, tt.audience), tt.event, got, tt.want)
			}
		})
	}
}

// TestTriggerUsesTheSavedVersionsAudience checks that a message saved again with another
// audience is matched against the new one, not one compiled for an earlier version.
func TestTriggerUsesTheSavedVersionsAudience(t *testing.T) {
	h := newHarness(t, nil)
	h.identify(t, webhook.User{ID: "u1", Attributes: webhook.Map{"plan": "gold"}})
	m := &webhook.Message{
		ID: "m", URL: h.recv.URL + "/u/{{ user.id }}", CheckAudienceOnce: true,
		Audience: webhook.Attr("plan", webhook.OpEq, "gold"),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "buy"},
	}
	h.save(t, m)
	h.trigger(t, webhook.Event{UserID: "u1", Name: "buy"})
	h.idle(t)
	m.Audience = webhook.Attr("plan", webhook.OpEq, "silver")
	h.save(t, m)
	h.trigger(t, webhook.Event{UserID: "u1", Name: "buy"})
	h.idle(t)
	if got := len(h.recv.Requests()); got != 1 {
		t.Errorf("a gold user triggered a message for gold users, then for silver users: %d requests, want 1", got)
	}
}

// enqueueUnseen triggers e through a second, unstarted Sender on the harness's Store, so the
// harness's Sender sees the job only when it next polls (after PollInterval on the fake
// clock): the user can change in between.
func (h *harness) enqueueUnseen(tb testing.TB, e webhook.Event) {
	tb.Helper()
	h.idle(tb)
	other, _ := webhooktest.NewSender(tb, h.store, &webhook.Config{Clock: h.clock})
	if err := other.Trigger(h.ctx, e); err != nil {
		tb.Fatal(err)
	}
}

func TestAudienceIsCheckedAgainBeforeSending(t *testing.T) {
	for _, once := range []bool{false, true} {
		h := newHarness(t, nil)
		gold := webhook.User{ID: "u1", Attributes: webhook.Map{"plan": "gold"}}
		h.identify(t, gold)
		h.save(t, &webhook.Message{
			ID: "m", URL: h.recv.URL + "/u/{{ user.id }}", CheckAudienceOnce: once,
			Audience: webhook.Attr("plan", webhook.OpEq, "gold"),
			Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"},
		})
		h.enqueueUnseen(t, webhook.Event{UserID: "u1", Name: "e"})
		gold.Attributes = webhook.Map{"plan": "free"} // the user leaves the audience
		h.identify(t, gold)
		h.clock.Advance(time.Second) // the Sender polls
		h.idle(t)

		as := h.attempts(t, webhook.AttemptQuery{})
		if len(as) != 1 {
			t.Fatalf("CheckAudienceOnce %v: got %d attempts, want 1", once, len(as))
		}
		job, err := getJob(h.ctx, h.store, as[0].JobID)
		if err != nil {
			t.Fatal(err)
		}
		if once {
			if as[0].Outcome != webhook.Succeeded || len(h.recv.Requests()) != 1 {
				t.Errorf("CheckAudienceOnce: outcome %s, %d requests; want sent", as[0].Outcome, len(h.recv.Requests()))
			}
			continue
		}
		if as[0].Outcome != webhook.Skipped || job.State != webhook.JobSkipped || len(h.recv.Requests()) != 0 {
			t.Errorf("user left: outcome %s, job %s, %d requests; want skipped, skipped, 0", as[0].Outcome, job.State, len(h.recv.Requests()))
		}
		if as[0].URL != "" || !strings.Contains(as[0].Err, "not in the message's audience") {
			t.Errorf("skipped attempt: URL %q, error %q; want no request and the reason", as[0].URL, as[0].Err)
		}
		logs := h.logs.String()
		if !strings.Contains(logs, "level=INFO") || !strings.Contains(logs, "skipped") || strings.Contains(logs, "level=ERROR") {
			t.Errorf("logs do not show the skip at info level without errors:\n%s", logs)
		}
	}
}

// stallingUsers is a Store whose User, once armed, waits until its context ends: a Store still
// answering the audience check when the Sender stops. Then it returns the context's error, or
// with answer set the user as if the answer had come just as the stop did.
type stallingUsers struct {
	*memstore.Store
	answer bool
	armed  atomic.Bool
	once   sync.Once
	called chan struct{} // closed by the first armed call
}

func (st *stallingUsers) Users(ctx context.Context, q webhook.UserQuery) ([]webhook.User, error) {
	if !st.armed.Load() {
		return st.Store.Users(ctx, q)
	}
	st.once.Do(func() { close(st.called) })
	<-ctx.Done()
	if st.answer {
		return st.Store.Users(context.WithoutCancel(ctx), q)
	}
	return nil, ctx.Err()
}

// TestStopDuringAudienceRecheckPutsTheDeliveryBack checks that a job whose audience
// check is cut short by a hard stop goes back in the queue, due now, with the attempt not
// counted and nothing logged: not skipped, although the user has left the audience, and not
// failed, although the check saw the context's error.
func TestStopDuringAudienceRecheckPutsTheDeliveryBack(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer bool
	}{
		{"check fails with the context's error", false},
		{"check answers as the stop comes", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st := &stallingUsers{Store: memstore.New(), answer: tt.answer, called: make(chan struct{})}
			clock := webhooktest.NewFakeClock(epoch)
			recv := webhooktest.NewReceiver(t)
			var logs bytes.Buffer
			s, _ := webhooktest.NewSender(t, st, &webhook.Config{Clock: clock,
				Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: recv.URL + "/hook",
				Audience: webhook.Attr("plan", webhook.OpEq, "gold")}); err != nil {
				t.Fatal(err)
			}
			// The user is not in the audience: an answered check would skip the delivery.
			if err := s.Identify(ctx, webhook.User{ID: "u1", Attributes: webhook.Map{"plan": "free"}}); err != nil {
				t.Fatal(err)
			}
			id, err := s.Send(ctx, "m", "u1", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			st.armed.Store(true)
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-st.called:
			case <-ctx.Done():
				t.Fatal("the Sender never checked the audience")
			}
			hard, stop := context.WithCancel(ctx)
			stop()
			if err := s.Stop(hard); !errors.Is(err, context.Canceled) {
				t.Errorf("Stop(cancelled) = %v, want context.Canceled", err)
			}

			j, err := getJob(ctx, st, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != webhook.JobScheduled || j.Attempts != 0 || j.LeaseOwner != "" || !j.DueAt.Equal(epoch) {
				t.Errorf("delivery is %s with %d attempts, lease %q, due %v; want scheduled with 0, no lease, due %v",
					j.State, j.Attempts, j.LeaseOwner, j.DueAt, epoch)
			}
			as, err := s.Attempts(ctx, webhook.AttemptQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != 0 {
				t.Errorf("logged %d attempts, want 0: %+v", len(as), as)
			}
			if n := len(recv.Requests()); n != 0 {
				t.Errorf("the receiver got %d requests, want 0", n)
			}
			// Stop has returned, so nothing writes to logs any more.
			for _, bad := range []string{"skipped", "webhook attempt", "level=WARN", "level=ERROR"} {
				if strings.Contains(logs.String(), bad) {
					t.Errorf("the log mentions %q; want the delivery put back silently:\n%s", bad, logs.String())
				}
			}
		})
	}
}

// failingHistory is a Store whose event history fails while failing is set.
type failingHistory struct {
	*memstore.Store
	failing *atomic.Bool
}

func newFailingHistory() failingHistory {
	st := failingHistory{memstore.New(), &atomic.Bool{}}
	st.failing.Store(true)
	return st
}

var errHistory = errors.New("history unavailable")

func (st failingHistory) Events(ctx context.Context, q webhook.EventQuery) ([]webhook.Event, error) {
	if st.failing.Load() {
		return nil, errHistory
	}
	return st.Store.Events(ctx, q)
}

func TestRecheckErrorIsRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := newFailingHistory()
	st.failing.Store(false)
	clock := webhooktest.NewFakeClock(epoch)
	recv := webhooktest.NewReceiver(t)
	s, _ := webhooktest.NewSender(t, st, &webhook.Config{Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m := &webhook.Message{ID: "m", URL: recv.URL, Audience: webhook.Did("buy", 0, webhook.OpGte, 1),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "buy"}}
	if err := s.SaveMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Trigger(ctx, webhook.Event{UserID: "u1", Name: "buy"}); err != nil {
		t.Fatal(err)
	}
	st.failing.Store(true) // the history fails when the worker checks again
	webhooktest.Start(t, s)
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	as, err := s.Attempts(ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Outcome != webhook.Retrying || !strings.Contains(as[0].Err, errHistory.Error()) || len(recv.Requests()) != 0 {
		t.Fatalf("attempts %+v, %d requests; want one Retrying with the Store's error and no request", as, len(recv.Requests()))
	}
	st.failing.Store(false)
	clock.Advance(time.Minute)
	if _, err := recv.Wait(ctx, 1); err != nil {
		t.Fatalf("the retry was not sent: %v", err)
	}
}

func TestEventHistoryErrors(t *testing.T) {
	ctx := context.Background()
	st := newFailingHistory()
	s, _ := webhooktest.NewSender(t, st, &webhook.Config{Clock: webhooktest.NewFakeClock(epoch)})
	m := &webhook.Message{ID: "m", URL: "https://x.example.com/", Audience: webhook.Did("buy", 0, webhook.OpGte, 1),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "buy"}}
	if err := s.SaveMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Identify(ctx, webhook.User{ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Trigger(ctx, webhook.Event{UserID: "u1", Name: "buy"}); !errors.Is(err, errHistory) {
		t.Errorf("Trigger = %v, want the Store's error", err)
	}
	if _, ok, _ := nextDue(ctx, st); ok {
		t.Errorf("a trigger that failed enqueued a delivery")
	}
	if n, err := s.AudienceSize(ctx, m.Audience); !errors.Is(err, errHistory) {
		t.Errorf("AudienceSize = %d, %v; want the Store's error", n, err)
	}
	// Criteria that need no history are not affected.
	if _, err := s.AudienceSize(ctx, webhook.Attr("plan", webhook.OpExists, nil)); err != nil {
		t.Errorf("AudienceSize without event criteria = %v", err)
	}
}

func TestDeliveryWhereValidation(t *testing.T) {
	for _, tt := range []struct {
		d    webhook.Delivery
		want []string
	}{
		{webhook.Delivery{Where: []webhook.Condition{{Key: "a", Op: webhook.OpExists}}},
			[]string{"delivery.where: only a triggered message filters its event's parameters"}},
		{webhook.Delivery{Kind: webhook.Triggered, Event: "e", Where: []webhook.Condition{
			{Op: webhook.OpEq, Value: 1},
			{Key: "a", Op: webhook.OpWithinLast, Value: "1d"},
			{Key: "b", Op: webhook.OpEq},
			{Key: "c", Op: webhook.OpIn, Value: []any{"x", 2}},
		}}, []string{
			"delivery.where[0].key: required",
			"delivery.where[1].op: within_last is not available in a condition",
			"delivery.where[2].value: eq takes a number, string, boolean or time, not null",
		}},
	} {
		m := webhook.Message{ID: "m", URL: "https://x.example.com/", Delivery: tt.d}
		var ve *webhook.ValidationError
		if err := m.Validate(); !errors.As(err, &ve) {
			t.Errorf("Validate(%+v) = %v, want a *ValidationError", tt.d, err)
			continue
		}
		var got []string
		for _, p := range ve.Problems {
			got = append(got, p.String())
		}
		if !slicesEqual(got, tt.want) {
			t.Errorf("Validate(%+v) problems:\n%s\nwant:\n%s", tt.d, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

// A job's first attempt loads its user from the Store once, although quiet hours, the
// audience check and a template reading an attribute each need it.
func TestAttemptLoadsItsUserOnce(t *testing.T) {
	ctx := t.Context()
	store := &storeReads{Store: memstore.New()}
	clock := webhooktest.NewFakeClock(epoch)
	recv := webhooktest.NewReceiver(t)
	s, _ := webhooktest.NewSender(t, store, &webhook.Config{Clock: clock,
		Logger: slog.New(slog.DiscardHandler), QuietHours: webhook.QuietHours{Start: 22 * time.Hour, End: 6 * time.Hour}})
	if err := s.Identify(ctx, webhook.User{ID: "u1", Attributes: map[string]any{"plan": "gold"}}); err != nil {
		t.Fatal(err)
	}
	m := &webhook.Message{ID: "m", URL: recv.URL + "/{{ userAttribute.plan }}", Audience: webhook.Attr("plan", webhook.OpEq, "gold")}
	if err := s.SaveMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	webhooktest.Start(t, s)
	before := store.reads("Users")
	if _, err := s.Send(ctx, "m", "u1", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := recv.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if reqs := recv.Requests(); len(reqs) != 1 || reqs[0].URI != "/gold" {
		t.Fatalf("requests = %+v, want one to /gold", reqs)
	}
	if n := store.reads("Users") - before; n != 1 {
		t.Errorf("Store.User called %d times for one attempt, want 1", n)
	}
}
