package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// fire reports an event by a user and waits until the Sender is idle.
func (h *harness) fire(tb testing.TB, userID, event string) {
	tb.Helper()
	h.trigger(tb, webhook.Event{UserID: userID, Name: event})
	h.idle(tb)
}

// advance moves the clock forward by d and waits until the Sender is idle.
func (h *harness) advance(tb testing.TB, d time.Duration) {
	tb.Helper()
	h.clock.Advance(d)
	h.idle(tb)
}

// history returns the attempt log oldest first, as "user message outcome +offset-from-epoch".
func (h *harness) history(tb testing.TB) []string {
	tb.Helper()
	as := h.attempts(tb, webhook.AttemptQuery{})
	out := make([]string, len(as))
	for i, a := range as {
		out[len(as)-1-i] = a.UserID + " " + a.MessageID + " " + string(a.Outcome) + " +" + a.Time.Sub(epoch).String()
	}
	return out
}

func (h *harness) wantHistory(tb testing.TB, want ...string) {
	tb.Helper()
	if diff := cmp.Diff(want, h.history(tb)); diff != "" {
		tb.Errorf("attempt log (-want +got):\n%s", diff)
	}
}

// reminder is a message sent two hours after signup unless the user purchases.
func reminder(h *harness) *webhook.Message {
	return &webhook.Message{ID: "remind", URL: h.recv.URL + "/remind/{{ user.id }}", Delivery: webhook.Delivery{
		Kind: webhook.Triggered, Event: "signup", Delay: 2 * time.Hour, Unless: "purchase",
	}}
}

func TestTriggerDelay(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "welcome", URL: h.recv.URL + "/welcome", Delivery: webhook.Delivery{
		Kind: webhook.Triggered, Event: "signup", Delay: 2 * time.Hour,
	}})
	h.fire(t, "u1", "signup")
	h.advance(t, 2*time.Hour-time.Second)
	if n := len(h.recv.Requests()); n != 0 {
		t.Fatalf("got %d requests before the delay passed, want 0", n)
	}
	h.advance(t, time.Second)
	h.wantHistory(t, "u1 welcome succeeded +2h0m0s")
	if n := len(h.recv.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestTriggerDelayCountsFromTheEventTime(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "welcome", URL: h.recv.URL + "/welcome", Delivery: webhook.Delivery{
		Kind: webhook.Triggered, Event: "signup", Delay: 2 * time.Hour,
	}})
	// Reported late: signed up 90 minutes ago, so due in 30 minutes; and one so late that
	// its job is due at once.
	for user, ago := range map[string]time.Duration{"late": 90 * time.Minute, "later": 3 * time.Hour} {
		if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: user, Name: "signup", Time: epoch.Add(-ago)}); err != nil {
			t.Fatal(err)
		}
	}
	h.idle(t)
	h.advance(t, 30*time.Minute)
	h.wantHistory(t, "later welcome succeeded +0s", "late welcome succeeded +30m0s")
}

func TestTriggerUnlessCancelsPendingDelivery(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, reminder(h))
	h.fire(t, "u1", "signup")
	h.fire(t, "u2", "signup")
	h.advance(t, time.Hour)
	h.fire(t, "u1", "purchase") // cancels u1's reminder only
	h.advance(t, time.Hour)
	h.advance(t, time.Hour)
	h.wantHistory(t, "u1 remind cancelled +1h0m0s", "u2 remind succeeded +2h0m0s")
	reqs := h.recv.Requests()
	if len(reqs) != 1 || reqs[0].URI != "/remind/u2" {
		t.Fatalf("requests = %+v, want one to /remind/u2", reqs)
	}
	cancelled := h.attempts(t, webhook.AttemptQuery{UserID: "u1"})[0]
	if !strings.Contains(cancelled.Err, `"purchase"`) || cancelled.URL != "" || cancelled.Number != 1 {
		t.Errorf("cancelled attempt = %+v, want one naming the purchase event, with no request", cancelled)
	}
	j, err := getJob(h.ctx, h.store, cancelled.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != webhook.JobCancelled || j.Attempts != 0 {
		t.Errorf("cancelled delivery is %s with %d attempts, want cancelled with 0", j.State, j.Attempts)
	}
	// A second purchase finds nothing to cancel; a new signup gets a new reminder.
	h.fire(t, "u1", "purchase")
	h.fire(t, "u1", "signup")
	h.advance(t, 2*time.Hour)
	h.wantHistory(t, "u1 remind cancelled +1h0m0s", "u2 remind succeeded +2h0m0s", "u1 remind succeeded +5h0m0s")
}

func TestTriggerUnlessAfterTheSendCancelsNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, reminder(h))
	h.fire(t, "u1", "signup")
	h.advance(t, 2*time.Hour)
	h.fire(t, "u1", "purchase")
	h.advance(t, time.Hour)
	h.wantHistory(t, "u1 remind succeeded +2h0m0s")
}

func TestTriggerUnlessCancelsAPendingRetry(t *testing.T) {
	h := newHarness(t, nil)
	h.recv.Reply(http.StatusServiceUnavailable)
	h.save(t, reminder(h))
	h.fire(t, "u1", "signup")
	h.advance(t, 2*time.Hour) // fails; the retry is due a minute later
	h.advance(t, 30*time.Second)
	h.fire(t, "u1", "purchase")
	h.advance(t, time.Hour)
	h.wantHistory(t, "u1 remind retrying +2h0m0s", "u1 remind cancelled +2h0m30s")
	if n := len(h.recv.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestTriggerOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "first-purchase", URL: h.recv.URL + "/hook", Delivery: webhook.Delivery{
		Kind: webhook.Triggered, Event: "purchase", Once: true,
	}})
	for range 3 {
		h.fire(t, "u1", "purchase")
		h.advance(t, 24*time.Hour)
	}
	h.fire(t, "u2", "purchase")
	h.wantHistory(t, "u1 first-purchase succeeded +0s", "u2 first-purchase succeeded +72h0m0s")
}

func TestTriggerOnceWithUnlessIsUsedUpByACancelledDelivery(t *testing.T) {
	h := newHarness(t, nil)
	m := reminder(h)
	m.Delivery.Once = true
	h.save(t, m)
	h.fire(t, "u1", "signup")
	h.fire(t, "u1", "purchase")
	h.fire(t, "u1", "signup")
	h.advance(t, 3*time.Hour)
	h.wantHistory(t, "u1 remind cancelled +0s")
}

func TestDeliveryCapsAcrossMessages(t *testing.T) {
	h := newHarness(t, &webhook.Config{Workers: 1, Caps: []webhook.Cap{
		{Max: 2, Per: 24 * time.Hour},
		{Max: 3, Per: 7 * 24 * time.Hour},
	}})
	for _, m := range []*webhook.Message{
		{ID: "a", URL: h.recv.URL + "/a", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "a"}},
		{ID: "b", URL: h.recv.URL + "/b", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "b"}},
		{ID: "receipt", URL: h.recv.URL + "/receipt", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "paid", IgnoreCaps: true}},
	} {
		h.save(t, m)
	}
	steps := []struct {
		at    time.Duration // since epoch
		user  string
		event string
	}{
		{0, "u1", "a"},                            // 1 today, 1 this week
		{time.Hour, "u1", "paid"},                 // exempt: not counted
		{2 * time.Hour, "u1", "b"},                // 2 today, 2 this week
		{3 * time.Hour, "u1", "a"},                // skipped: 2 in the last 24 hours
		{3 * time.Hour, "u2", "a"},                // caps are per user
		{4 * time.Hour, "u1", "paid"},             // exempt: sent over the cap
		{24*time.Hour + time.Minute, "u1", "b"},   // the first "a" left the day: 3 this week
		{27 * time.Hour, "u1", "a"},               // 1 today, but 3 this week: skipped
		{7*24*time.Hour + time.Minute, "u1", "a"}, // the first "a" left the week
	}
	for _, s := range steps {
		h.clock.Set(epoch.Add(s.at))
		h.fire(t, s.user, s.event)
	}
	h.wantHistory(t,
		"u1 a succeeded +0s",
		"u1 receipt succeeded +1h0m0s",
		"u1 b succeeded +2h0m0s",
		"u1 a skipped +3h0m0s",
		"u2 a succeeded +3h0m0s",
		"u1 receipt succeeded +4h0m0s",
		"u1 b succeeded +24h1m0s",
		"u1 a skipped +27h0m0s",
		"u1 a succeeded +168h1m0s",
	)
	skipped := h.attempts(t, webhook.AttemptQuery{UserID: "u1", MessageID: "a"})[1]
	if !strings.Contains(skipped.Err, "cap") || skipped.URL != "" {
		t.Errorf("skipped attempt = %+v, want one naming the cap, with no request", skipped)
	}
	j, err := getJob(h.ctx, h.store, skipped.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != webhook.JobSkipped {
		t.Errorf("skipped delivery is %s, want skipped", j.State)
	}
	if n := len(h.recv.Requests()); n != 7 {
		t.Errorf("got %d requests, want 7", n)
	}
}

func TestCapsAreCheckedOnlyBeforeTheFirstAttempt(t *testing.T) {
	h := newHarness(t, &webhook.Config{Workers: 1, Caps: []webhook.Cap{{Max: 1, Per: 24 * time.Hour}}})
	h.recv.Reply(http.StatusServiceUnavailable)
	h.save(t, &webhook.Message{ID: "a", URL: h.recv.URL + "/a", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "a"}})
	h.save(t, &webhook.Message{ID: "b", URL: h.recv.URL + "/b", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "b"}})
	h.fire(t, "u1", "a") // fails, retried in a minute
	h.fire(t, "u1", "b") // nothing sent yet: under the cap
	h.advance(t, time.Minute)
	h.wantHistory(t, "u1 a retrying +0s", "u1 b succeeded +0s", "u1 a succeeded +1m0s")
}

func TestQuietHoursHoldDeliveriesUntilTheyEnd(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	// epoch is 09:00 UTC: 01:00 in Los Angeles (the default zone), 04:00 in New York, 09:00 in
	// London and 22:00 in Auckland, where quiet hours end tomorrow morning.
	h := newHarness(t, &webhook.Config{DefaultTimeZone: la, QuietHours: webhook.QuietHours{Start: 22 * time.Hour, End: 8 * time.Hour}})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/m/{{ user.id }}", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	h.save(t, &webhook.Message{ID: "urgent", URL: h.recv.URL + "/urgent", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "alarm", IgnoreQuietHours: true}})
	h.identify(t, webhook.User{ID: "ny", TimeZone: "America/New_York"})
	h.identify(t, webhook.User{ID: "london", TimeZone: "Europe/London"})
	h.identify(t, webhook.User{ID: "auckland", TimeZone: "Pacific/Auckland"})
	for _, u := range []string{"ny", "london", "auckland", "default"} {
		h.fire(t, u, "e")
	}
	h.fire(t, "ny", "alarm")
	h.wantHistory(t, "london m succeeded +0s", "ny urgent succeeded +0s")

	// Held jobs are not attempts: no log entry, no attempt counted, due when quiet hours end.
	want := map[string]time.Time{
		"ny":       time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC), // 08:00 EST
		"default":  time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC), // 08:00 PST
		"auckland": time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC), // 08:00 NZDT on the 24th
	}
	for _, user := range []string{"ny", "default", "auckland"} {
		as := h.attempts(t, webhook.AttemptQuery{UserID: user, MessageID: "m"})
		if len(as) != 0 {
			t.Errorf("%s: attempts %+v while held, want none", user, as)
		}
	}
	next, ok, err := nextDue(h.ctx, h.store)
	if err != nil || !ok || !next.Equal(want["ny"]) {
		t.Errorf("NextDue = %v, %v, %v; want %v, so the Sender sleeps until then", next, ok, err, want["ny"])
	}

	// Step through the day a minute at a time: each goes out exactly when its quiet hours end.
	for range 11 * 60 {
		h.advance(t, time.Minute)
	}
	h.wantHistory(t,
		"london m succeeded +0s", "ny urgent succeeded +0s",
		"ny m succeeded +4h0m0s", "default m succeeded +7h0m0s", "auckland m succeeded +10h0m0s",
	)
	for user, at := range want {
		a := h.attempts(t, webhook.AttemptQuery{UserID: user, MessageID: "m"})[0]
		if a.Number != 1 || !a.Time.Equal(at) {
			t.Errorf("%s: attempt %d at %v, want attempt 1 at %v", user, a.Number, a.Time, at)
		}
	}
}

func TestQuietHoursHoldARetry(t *testing.T) {
	h := newHarness(t, &webhook.Config{QuietHours: webhook.QuietHours{Start: 9*time.Hour + 30*time.Second, End: 10 * time.Hour}})
	h.recv.Reply(http.StatusServiceUnavailable)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/m", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	h.fire(t, "u1", "e") // 09:00 UTC: fails; the retry at 09:01 falls in quiet hours
	h.advance(t, time.Minute)
	h.advance(t, 59*time.Minute)
	h.wantHistory(t, "u1 m retrying +0s", "u1 m succeeded +1h0m0s")
	if a := h.attempts(t, webhook.AttemptQuery{})[0]; a.Number != 2 {
		t.Errorf("the retry is attempt %d, want 2", a.Number)
	}
}

func TestTriggerAndCapValidation(t *testing.T) {
	h := newHarness(t, nil)
	for _, tt := range []struct {
		name string
		d    webhook.Delivery
		want []string // field paths
	}{
		{"trigger rules on a manual message", webhook.Delivery{Delay: time.Hour, Unless: "x", Once: true, Cap: webhook.Cap{Max: 1, Per: time.Hour}},
			[]string{"delivery.delay", "delivery.unless", "delivery.once", "delivery.cap"}},
		{"bad limit", webhook.Delivery{Kind: webhook.Triggered, Event: "e", Cap: webhook.Cap{Per: -time.Hour}}, []string{"delivery.cap.max", "delivery.cap.per"}},
		{"negative delay", webhook.Delivery{Kind: webhook.Triggered, Event: "e", Delay: -time.Second}, []string{"delivery.delay"}},
		{"unless without delay", webhook.Delivery{Kind: webhook.Triggered, Event: "e", Unless: "x"}, []string{"delivery.unless"}},
		{"unless is the event", webhook.Delivery{Kind: webhook.Triggered, Event: "e", Unless: "e", Delay: time.Hour}, []string{"delivery.unless"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := h.sender.SaveMessage(h.ctx, &webhook.Message{ID: "m", URL: "https://example.com/", Delivery: tt.d})
			var ve *webhook.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("SaveMessage = %v, want a *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Path)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
	_, err := webhook.NewSender(h.store, &webhook.Config{
		Caps:       []webhook.Cap{{Max: 1, Per: time.Hour}, {Max: 0, Per: -time.Hour}},
		QuietHours: webhook.QuietHours{Start: 25 * time.Hour, End: 25 * time.Hour},
	})
	for _, want := range []string{"Caps[1].Max", "Caps[1].Per", "QuietHours.Start", "QuietHours.End"} {
		if !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), want+":") {
			t.Errorf("NewSender = %v, want ErrInvalid naming %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "Caps[0]") {
		t.Errorf("NewSender = %v, which faults a valid cap", err)
	}
	_, err = webhook.NewSender(h.store, &webhook.Config{QuietHours: webhook.QuietHours{Start: 8 * time.Hour, End: 8 * time.Hour}})
	if want := "QuietHours.End: equals Start"; !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Errorf("NewSender(empty quiet hours) = %v, want ErrInvalid containing %q", err, want)
	}
}

func TestCapHoldsForDeliveriesDueTogether(t *testing.T) {
	h := newHarness(t, &webhook.Config{Workers: 8, Caps: []webhook.Cap{{Max: 2, Per: 24 * time.Hour}}})
	const messages = 6
	for i := range messages {
		h.save(t, &webhook.Message{ID: fmt.Sprintf("m%d", i), URL: h.recv.URL + "/hook", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	}
	h.fire(t, "u1", "e") // six deliveries due at once, sent by eight workers
	h.fire(t, "u2", "e")
	for _, user := range []string{"u1", "u2"} {
		outcomes := map[webhook.Outcome]int{}
		for _, a := range h.attempts(t, webhook.AttemptQuery{UserID: user}) {
			outcomes[a.Outcome]++
		}
		if want := map[webhook.Outcome]int{webhook.Succeeded: 2, webhook.Skipped: messages - 2}; !cmp.Equal(outcomes, want) {
			t.Errorf("%s: outcomes %v, want %v", user, outcomes, want)
		}
	}
}

func TestTriggerLimitPerUserPerPeriod(t *testing.T) {
	h := newHarness(t, &webhook.Config{Caps: []webhook.Cap{{Max: 1, Per: 24 * time.Hour}}})
	h.save(t, &webhook.Message{ID: "digest", URL: h.recv.URL + "/digest", Delivery: webhook.Delivery{
		Kind: webhook.Triggered, Event: "view", IgnoreCaps: true, Cap: webhook.Cap{Max: 2, Per: 24 * time.Hour},
	}})
	h.save(t, &webhook.Message{ID: "promo", URL: h.recv.URL + "/promo", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "promo"}})
	for range 3 { // a burst: three deliveries due at once
		if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "view"}); err != nil {
			t.Fatal(err)
		}
	}
	h.idle(t)
	h.advance(t, time.Hour)
	h.fire(t, "u1", "view")
	h.fire(t, "u1", "promo") // the exempt digests did not count toward the cap
	h.clock.Set(epoch.Add(24*time.Hour + time.Minute))
	h.fire(t, "u1", "view")
	h.wantHistory(t,
		"u1 digest succeeded +0s", "u1 digest succeeded +0s", "u1 digest skipped +0s",
		"u1 digest skipped +1h0m0s", "u1 promo succeeded +1h0m0s",
		"u1 digest succeeded +24h1m0s",
	)
	if a := h.attempts(t, webhook.AttemptQuery{MessageID: "digest"})[1]; !strings.Contains(a.Err, "message cap") {
		t.Errorf("skipped attempt error %q, want it to name the message cap", a.Err)
	}
}

func TestCapsApplyToManualSends(t *testing.T) {
	h := newHarness(t, &webhook.Config{Caps: []webhook.Cap{{Max: 1, Per: time.Hour}}})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/m"})
	for range 2 {
		if _, err := h.sender.Send(h.ctx, "m", "u1", nil, nil); err != nil {
			t.Fatal(err)
		}
		h.idle(t)
	}
	h.advance(t, time.Hour) // the window includes its start: the first send still counts
	for range 2 {
		if _, err := h.sender.Send(h.ctx, "m", "u1", nil, nil); err != nil {
			t.Fatal(err)
		}
		h.idle(t)
		h.advance(t, time.Second)
	}
	h.wantHistory(t, "u1 m succeeded +0s", "u1 m skipped +0s", "u1 m skipped +1h0m0s", "u1 m succeeded +1h0m1s")
}

// brokenCounts is a Store that fails to read the attempts caps count.
type brokenCounts struct{ *memstore.Store }

func (s brokenCounts) Attempts(ctx context.Context, q webhook.AttemptQuery) ([]webhook.Attempt, error) {
	if q.Brief {
		return nil, errors.New("disk on fire")
	}
	return s.Store.Attempts(ctx, q)
}

func TestCapCountFailureIsRetried(t *testing.T) {
	recv := webhooktest.NewReceiver(t)
	as := sendOnceOn(t, brokenCounts{memstore.New()}, webhook.Config{
		AllowNetworks: webhooktest.LoopbackNetworks(), Caps: []webhook.Cap{{Max: 1, Per: time.Hour}},
	}, recv)
	if len(as) != 1 || as[0].Outcome != webhook.Retrying || !strings.Contains(as[0].Err, "disk on fire") {
		t.Fatalf("attempts = %+v; want one retrying after the count failed", as)
	}
	if n := len(recv.Requests()); n != 0 {
		t.Errorf("got %d requests, want 0", n)
	}
}

// TriggerMany saves a batch of events in one go; each counts in the audiences of those after
// it, as with one Trigger each, and an invalid event stops the whole batch.
func TestTriggerMany(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "second", URL: h.recv.URL + "/{{ user.id }}",
		Audience: webhook.Did("buy", 0, webhook.OpGte, 2),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "buy"}})
	err := h.sender.TriggerMany(h.ctx, []webhook.Event{
		{UserID: "a", Name: "buy"}, {UserID: "b", Name: "buy"}, {UserID: "a", Name: "buy"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	var got []string
	for _, r := range h.recv.Requests() {
		got = append(got, r.URI)
	}
	if diff := cmp.Diff([]string{"/a"}, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	err = h.sender.TriggerMany(h.ctx, []webhook.Event{{UserID: "c", Name: "buy"}, {Name: "buy"}})
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != "events[1].user_id" {
		t.Fatalf("TriggerMany(bad) = %v, want one problem at events[1].user_id", err)
	}
	if evs, _ := h.store.Events(h.ctx, webhook.EventQuery{UserID: "c"}); len(evs) != 0 {
		t.Errorf("an invalid batch saved %d events of c, want none", len(evs))
	}
}

// A Delivery's durations read and write JSON as strings, as an Audience's do; numbers, the
// nanoseconds of messages saved before, still read.
func TestDeliveryDurationsInJSON(t *testing.T) {
	d := webhook.Delivery{Kind: webhook.Triggered, Event: "signup", Delay: 2 * time.Hour,
		Cap: webhook.Cap{Max: 1, Per: 7 * 24 * time.Hour}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"kind":"triggered","event":"signup","cap":{"max":1,"per":"7d"},"delay":"2h0m0s"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	for _, in := range []string{string(b), `{"kind":"triggered","event":"signup","delay":7200000000000,"cap":{"max":1,"per":604800000000000}}`} {
		var got webhook.Delivery
		if err := json.Unmarshal([]byte(in), &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", in, err)
		}
		if diff := cmp.Diff(d, got); diff != "" {
			t.Errorf("Unmarshal(%s) (-want +got):\n%s", in, diff)
		}
	}
	var bad webhook.Delivery
	if err := json.Unmarshal([]byte(`{"delay":"soon"}`), &bad); err == nil {
		t.Error(`Unmarshal({"delay":"soon"}) = nil, want an error`)
	}
}

// A Trigger retried with the same event ID records the event once: one purchase retried does
// not count as two for a Did criterion.
func TestRetriedTriggerRecordsTheEventOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "repeat", URL: h.recv.URL,
		Audience: webhook.Did("purchase", 0, webhook.OpGte, 2),
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "purchase"}})
	e := webhook.Event{ID: "order-42", UserID: "u1", Name: "purchase"}
	h.trigger(t, e)
	h.trigger(t, e)
	events, err := h.store.Events(h.ctx, webhook.EventQuery{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Errorf("a Trigger retried with the same ID recorded %d events, want 1", len(events))
	}
	jobs, err := h.store.Jobs(h.ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "repeat"}})
	if err != nil || len(jobs) != 0 {
		t.Errorf("a repeat-buyer message has %d jobs (%v) for one purchase retried, want none", len(jobs), err)
	}
}

// TriggerMany fills in the ID and time of the events it saves, and normalizes their
// parameters, in a copy: the app's slice is left as it passed it, by the Sender and in a Tx.
func TestTriggerManyLeavesTheAppsEventsAlone(t *testing.T) {
	h := newHarness(t, nil)
	for name, trigger := range map[string]func([]webhook.Event) error{
		"sender": func(es []webhook.Event) error { return h.sender.TriggerMany(h.ctx, es) },
		"tx":     func(es []webhook.Event) error { return h.sender.InTx(h.store).TriggerMany(h.ctx, es) },
	} {
		events := []webhook.Event{{UserID: "u1", Name: "a", Params: map[string]any{"n": 1}}, {UserID: "u2", Name: "b"}}
		if err := trigger(events); err != nil {
			t.Fatal(err)
		}
		want := []webhook.Event{{UserID: "u1", Name: "a", Params: map[string]any{"n": 1}}, {UserID: "u2", Name: "b"}}
		if !reflect.DeepEqual(events, want) {
			t.Errorf("%s: the app's events after TriggerMany = %+v, want them as passed", name, events)
		}
	}
}
