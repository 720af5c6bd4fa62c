package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// noticeLog records what hooks receive, one line per call.
type noticeLog struct {
	mu    sync.Mutex // guards lines
	lines []string
}

func (l *noticeLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *noticeLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// hooks returns Hooks that record every call in l, naming jobs by their message, and times
// from epoch.
func (l *noticeLog) hooks() webhook.Hooks {
	return webhook.Hooks{
		AttemptFinished: func(_ context.Context, a webhook.Attempt) {
			l.add("attempt %s #%d %s %d %q at %v", a.MessageID, a.Number, a.Outcome, a.StatusCode, a.Err, a.Time.Sub(epoch))
		},
		JobEnded: func(_ context.Context, e webhook.JobEnd) {
			l.add("job %s to %s %s after %d: %q at %v", e.MessageID, e.UserID, e.State, e.Attempts, e.Reason, e.Time.Sub(epoch))
		},
		CampaignChanged: func(_ context.Context, c webhook.CampaignChange) {
			l.add("campaign %s run %d %s from %q finished=%v at %v", c.MessageID, c.Run, c.State, c.Previous, c.Finished, c.Time.Sub(epoch))
		},
		BreakerChanged: func(_ context.Context, b webhook.BreakerChange) {
			host, _, _ := strings.Cut(b.Host, ":")
			if b.Open {
				l.add("breaker %s opened until %v at %v", host, b.Until.Sub(epoch), b.Time.Sub(epoch))
			} else {
				l.add("breaker %s closed at %v", host, b.Time.Sub(epoch))
			}
		},
	}
}

// TestHooksOrderAndContent checks every hook, in the order the Sender recorded what they
// report: a campaign started and finished, its job sent; a breaker opened by a failing host,
// the failed attempt, the job skipped by its audience; the campaign paused and cancelled, the
// failing job cancelled with its message; the breaker closed by a success after its cool-down.
func TestHooksOrderAndContent(t *testing.T) {
	var log noticeLog
	h := newHarness(t, &webhook.Config{Workers: 1, BreakerThreshold: 1, BreakerCooldown: 5 * time.Minute, Hooks: log.hooks()})
	h.identify(t, webhook.User{ID: "u1", Attributes: map[string]any{"plan": "free"}})
	h.campaign(t, &webhook.Message{ID: "camp", Delivery: webhook.Delivery{Kind: webhook.Immediate}})

	h.recv.Reply(http.StatusServiceUnavailable)
	h.save(t, &webhook.Message{ID: "fail", URL: h.recv.URL + "/fail"})
	h.save(t, &webhook.Message{ID: "gold", URL: h.recv.URL + "/gold", Audience: webhook.Attr("plan", webhook.OpEq, "gold")})
	h.sendN(t, "fail", 1)
	h.idle(t)
	if _, err := h.sender.Send(h.ctx, "gold", "u1", nil, nil); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	for _, step := range []func(context.Context, string) error{h.sender.PauseCampaign, h.sender.CancelCampaign} {
		if err := step(h.ctx, "camp"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sender.DeleteMessage(h.ctx, "fail"); err != nil {
		t.Fatal(err)
	}
	h.advance(t, 5*time.Minute)
	h.save(t, &webhook.Message{ID: "after", URL: h.recv.URL + "/after"})
	h.sendN(t, "after", 1)
	h.idle(t)
	if err := h.sender.Stop(h.ctx); err != nil { // waits for the hooks
		t.Fatal(err)
	}

	want := []string{
		`campaign camp run 1 running from "" finished=false at 0s`,
		`campaign camp run 1 running from "running" finished=true at 0s`,
		`attempt camp #1 succeeded 200 "" at 0s`,
		`job camp to u1 succeeded after 1: "" at 0s`,
		`breaker 127.0.0.1 opened until 5m0s at 0s`,
		`attempt fail #1 retrying 503 "unexpected status 503 Service Unavailable" at 0s`,
		`attempt gold #1 skipped 0 "the user is not in the message's audience" at 0s`,
		`job gold to u1 skipped after 1: "the user is not in the message's audience" at 0s`,
		`campaign camp run 1 paused from "running" finished=false at 0s`,
		`campaign camp run 1 cancelled from "paused" finished=false at 0s`,
		`job fail to u1 cancelled after 1: "message deleted" at 0s`,
		`breaker 127.0.0.1 closed at 5m0s`,
		`attempt after #1 succeeded 200 "" at 5m0s`,
		`job after to u1 succeeded after 1: "" at 5m0s`,
	}
	if diff := cmp.Diff(want, log.get()); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}
}

// TestHookPanicIsRecovered checks that a hook that panics is logged, and that the hooks of
// the next notices are called.
func TestHookPanicIsRecovered(t *testing.T) {
	var log noticeLog
	hooks := log.hooks()
	record := hooks.AttemptFinished
	panicked := false
	hooks.AttemptFinished = func(ctx context.Context, a webhook.Attempt) {
		if !panicked {
			panicked = true
			panic("hook bug")
		}
		record(ctx, a)
	}
	h := newHarness(t, &webhook.Config{Workers: 1, Hooks: hooks})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	h.sendN(t, "m", 1)
	h.idle(t)
	h.sendN(t, "m", 1)
	h.idle(t)
	if err := h.sender.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`job m to u1 succeeded after 1: "" at 0s`,
		`attempt m #1 succeeded 200 "" at 0s`,
		`job m to u1 succeeded after 1: "" at 0s`,
	}
	if diff := cmp.Diff(want, log.get()); diff != "" {
		t.Errorf("hook calls after a panic (-want +got):\n%s", diff)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "webhook: hook panicked") || !strings.Contains(logs, "hook bug") {
		t.Errorf("the panic is not logged:\n%s", logs)
	}
}

// TestSlowHookDoesNotStallSending checks that while a hook is blocked, every worker goes on
// sending and the Sender goes idle, and that the hook is then called for every attempt.
func TestSlowHookDoesNotStallSending(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var seen []string
	h := newHarness(t, &webhook.Config{Workers: 4, Hooks: webhook.Hooks{AttemptFinished: func(_ context.Context, a webhook.Attempt) {
		<-release
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, a.JobID)
	}}})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	ids := h.sendN(t, "m", 20)
	h.idle(t) // every job is sent and recorded while the first hook call blocks
	if got := len(h.attempts(t, webhook.AttemptQuery{Outcomes: []webhook.Outcome{webhook.Succeeded}})); got != 20 {
		t.Fatalf("%d jobs succeeded while the hook was blocked, want 20", got)
	}
	close(release)
	if err := h.sender.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(len(ids), len(seen)); diff != "" {
		t.Errorf("the hook was called %d times, want %d", len(seen), len(ids))
	}
}

// TestFullHookQueueDropsNotices checks that when the queue is full the Sender drops new
// notices rather than wait, counts them in webhook.hooks.dropped, logs how many it dropped,
// and calls the hooks of those it kept.
func TestFullHookQueueDropsNotices(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	release := make(chan struct{})
	var mu sync.Mutex
	called := 0
	h := newHarness(t, &webhook.Config{MeterProvider: mp, Hooks: webhook.Hooks{
		QueueSize: 2,
		JobEnded: func(context.Context, webhook.JobEnd) {
			<-release
			mu.Lock()
			defer mu.Unlock()
			called++
		},
	}})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	h.sendN(t, "m", 10)
	h.idle(t)
	close(release)
	if err := h.sender.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	// Each job gives two notices (its attempt and its end); the goroutine took some, two
	// more waited, and the rest were dropped.
	dropped := 0
	if p := points(t, collect(t, reader)["webhook.hooks.dropped"]); len(p) == 1 {
		fmt.Sscanf(strings.TrimPrefix(p[0], "="), "%d", &dropped)
	}
	mu.Lock()
	defer mu.Unlock()
	if dropped == 0 || called == 10 {
		t.Errorf("%d notices dropped and %d hooks called, want some dropped and fewer than 10 called", dropped, called)
	}
	if !strings.Contains(h.logs.String(), "notices dropped: the hook queue was full") {
		t.Errorf("no log of the dropped notices:\n%s", h.logs)
	}
}

// TestHooksOfAnUnstartedSender checks that a Sender that is not started calls the hooks of
// what it records, such as jobs cancelled by an Unless event.
func TestHooksOfAnUnstartedSender(t *testing.T) {
	ended := make(chan webhook.JobEnd, 1)
	h := newHarness(t, &webhook.Config{Hooks: webhook.Hooks{JobEnded: func(_ context.Context, e webhook.JobEnd) { ended <- e }}})
	if err := h.sender.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook", Delivery: webhook.Delivery{
		Kind: webhook.Triggered, Event: "cart", Delay: time.Hour, Unless: "purchase",
	}})
	h.trigger(t, webhook.Event{UserID: "u1", Name: "cart"})
	h.trigger(t, webhook.Event{UserID: "u1", Name: "purchase"})
	select {
	case e := <-ended:
		if e.MessageID != "m" || e.State != webhook.JobCancelled || e.Reason != `cancelled by event "purchase"` || !e.Time.Equal(epoch) {
			t.Errorf("JobEnded got %+v, want m cancelled by the event at %v", e, epoch)
		}
	case <-h.ctx.Done():
		t.Fatal("JobEnded was not called")
	}
}
