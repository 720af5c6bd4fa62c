package webhooktest_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/webhook/webhooktest"
)

var t0 = time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)

func TestFakeClockFiresTimersWhenAdvanced(t *testing.T) {
	c := webhooktest.NewFakeClock(t0)
	late := c.NewTimer(2 * time.Hour)
	early := c.NewTimer(time.Hour)
	stopped := c.NewTimer(time.Hour)
	if !stopped.Stop() || stopped.Stop() {
		t.Errorf("Stop of a pending timer = false, or a second Stop = true")
	}
	if n := c.Waiters(); n != 2 {
		t.Errorf("Waiters() = %d, want 2", n)
	}
	c.Advance(time.Hour - time.Nanosecond)
	select {
	case <-early.C():
		t.Fatal("a timer fired before its time")
	default:
	}
	c.Advance(time.Nanosecond)
	if got := <-early.C(); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("timer fired with %v, want %v", got, t0.Add(time.Hour))
	}
	select {
	case <-late.C():
		t.Fatal("the two-hour timer fired after one hour")
	case <-stopped.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if early.Stop() {
		t.Error("Stop of a fired timer = true")
	}
	c.Set(t0) // back in time: fires nothing
	if n := c.Waiters(); n != 1 {
		t.Errorf("Waiters() after setting the clock back = %d, want 1", n)
	}
	c.Set(t0.Add(3 * time.Hour))
	if got := <-late.C(); !got.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("timer fired with %v, want the time it was set to", got)
	}
	if now := c.Now(); !now.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("Now() = %v", now)
	}
	if fired := c.NewTimer(0); len(fired.C()) != 1 {
		t.Error("a timer of 0 did not fire at once")
	}
}

func TestFakeClockBlockUntil(t *testing.T) {
	c := webhooktest.NewFakeClock(t0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.BlockUntil(ctx, 1); err != context.Canceled {
		t.Errorf("BlockUntil with no timer and a cancelled ctx = %v, want context.Canceled", err)
	}
	done := make(chan error)
	go func() { done <- c.BlockUntil(context.Background(), 2) }()
	c.NewTimer(time.Minute)
	if err := c.BlockUntil(ctx, 2); err != context.Canceled {
		t.Errorf("BlockUntil(2) with one timer and a cancelled ctx = %v, want context.Canceled", err)
	}
	c.NewTimer(time.Minute)
	if err := <-done; err != nil {
		t.Errorf("BlockUntil(2) = %v after two timers", err)
	}
}

func TestReceiverScriptsAndRecords(t *testing.T) {
	r := webhooktest.NewReceiver(t)
	r.Reply(503, 429)
	r.SetStatus(http.StatusAccepted)
	var got []int
	for i := range 4 {
		req, _ := http.NewRequest(http.MethodPost, r.URL+"/hook?n="+string(rune('0'+i)), strings.NewReader("body"))
		req.SetBasicAuth("api", "secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	if want := []int{503, 429, 202, 202}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	reqs, err := r.Wait(context.Background(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if reqs[1].URI != "/hook?n=1" || string(reqs[1].Body) != "body" || reqs[1].Status != 429 || reqs[1].Method != "POST" {
		t.Errorf("second request recorded as %+v", reqs[1])
	}
	if u, p, ok := reqs[0].BasicAuth(); !ok || u != "api" || p != "secret" {
		t.Errorf("BasicAuth() = %q, %q, %v", u, p, ok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Wait(ctx, 5); err != context.Canceled {
		t.Errorf("Wait for a fifth request with a cancelled ctx = %v", err)
	}
}
