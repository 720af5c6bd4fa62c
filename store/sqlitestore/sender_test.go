package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/sqlitestore"
	"github.com/hookline/webhook/webhooktest"
)

// senderOnSQLite is a started Sender on a new sqlitestore, a fake clock and a loopback
// receiver.
type senderOnSQLite struct {
	ctx    context.Context
	db     *sql.DB
	store  *sqlitestore.Store
	sender *webhook.Sender
	clock  *webhooktest.FakeClock
	recv   *webhooktest.Receiver
	epoch  time.Time
}

func newSenderOnSQLite(t *testing.T, cfg *webhook.Config) *senderOnSQLite {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	epoch := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	h := &senderOnSQLite{ctx: ctx, clock: webhooktest.NewFakeClock(epoch), recv: webhooktest.NewReceiver(t), epoch: epoch}
	cfg.Clock, cfg.AllowNetworks, cfg.Logger = h.clock, webhooktest.LoopbackNetworks(), slog.New(slog.DiscardHandler)
	h.store, h.db = openAt(t, filepath.Join(t.TempDir(), "hooks.db"))
	s, err := webhook.NewSender(h.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.sender = s
	webhooktest.Start(t, s)
	return h
}

// idle waits until the Sender waits for the clock.
func (h *senderOnSQLite) idle(t *testing.T) {
	t.Helper()
	if err := h.clock.BlockUntil(h.ctx, 1); err != nil {
		t.Fatalf("waiting for the Sender to be idle: %v", err)
	}
}

// do fails the test if err is not nil, and then waits until the Sender is idle.
func (h *senderOnSQLite) do(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	h.idle(t)
}

// wantHistory checks the attempt log, as "user message outcome +offset" sorted (attempts at
// one time may be recorded in any order).
func (h *senderOnSQLite) wantHistory(t *testing.T, want ...string) {
	t.Helper()
	as, err := h.sender.Attempts(h.ctx, webhook.AttemptQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		got = append(got, a.UserID+" "+a.MessageID+" "+string(a.Outcome)+" +"+a.Time.Sub(h.epoch).String())
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempt log (-want +got):\n%s", diff)
	}
}

// TestSenderTriggersOnSQLite runs Unless, caps and IgnoreCaps through a Sender on SQLite:
// Cancel by Unless, CountSent and Finish of a cancelled job.
func TestSenderTriggersOnSQLite(t *testing.T) {
	h := newSenderOnSQLite(t, &webhook.Config{Caps: []webhook.Cap{{Max: 1, Per: 24 * time.Hour}}})
	for _, m := range []*webhook.Message{
		{ID: "welcome", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup"}},
		{ID: "remind", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup", Delay: 2 * time.Hour, Unless: "purchase", IgnoreCaps: true}},
		{ID: "promo", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "visit"}},
	} {
		m.URL = h.recv.URL + "/" + m.ID + "/{{ user.id }}"
		h.do(t, "SaveMessage", h.sender.SaveMessage(h.ctx, m))
	}
	h.do(t, "Trigger", h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "signup"}))
	h.do(t, "Trigger", h.sender.Trigger(h.ctx, webhook.Event{UserID: "u2", Name: "signup"}))
	h.clock.Advance(time.Hour)
	h.idle(t)
	h.do(t, "Trigger", h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "purchase"})) // cancels u1's reminder
	h.do(t, "Trigger", h.sender.Trigger(h.ctx, webhook.Event{UserID: "u2", Name: "visit"}))    // capped by u2's welcome
	h.clock.Advance(time.Hour)
	h.idle(t)
	h.wantHistory(t, "u1 remind cancelled +1h0m0s", "u1 welcome succeeded +0s",
		"u2 promo skipped +1h0m0s", "u2 remind succeeded +2h0m0s", "u2 welcome succeeded +0s")
}

// TestSenderCampaignOnSQLite pauses and resumes a campaign through a Sender on SQLite: the
// CampaignStore role and held jobs.
func TestSenderCampaignOnSQLite(t *testing.T) {
	h := newSenderOnSQLite(t, &webhook.Config{})
	for _, id := range []string{"a", "b"} {
		h.do(t, "Identify", h.sender.Identify(h.ctx, webhook.User{ID: id}))
	}
	for _, id := range []string{"paused", "cancelled"} {
		m := &webhook.Message{ID: id, URL: h.recv.URL + "/" + id + "/{{ user.id }}",
			Delivery: webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "12:00", UserTimeZone: true}}
		h.do(t, "SaveMessage", h.sender.SaveMessage(h.ctx, m))
		h.do(t, "StartCampaign", h.sender.StartCampaign(h.ctx, id))
	}
	h.do(t, "PauseCampaign", h.sender.PauseCampaign(h.ctx, "paused"))
	h.do(t, "CancelCampaign", h.sender.CancelCampaign(h.ctx, "cancelled"))
	h.clock.Advance(4 * time.Hour)
	h.idle(t)
	if n := len(h.recv.Requests()); n != 0 {
		t.Errorf("%d requests while paused or cancelled, want 0", n)
	}
	h.do(t, "ResumeCampaign", h.sender.ResumeCampaign(h.ctx, "paused"))
	h.wantHistory(t, "a cancelled cancelled +0s", "a paused succeeded +4h0m0s", "b cancelled cancelled +0s", "b paused succeeded +4h0m0s")
	if c, err := h.sender.Campaign(h.ctx, "cancelled"); err != nil || c.State != webhook.CampaignCancelled {
		t.Errorf("Campaign(cancelled) = %+v, %v; want cancelled", c, err)
	}
}

// TestSenderAudienceCampaignOnSQLite fans a campaign out to an audience that sqlitestore
// evaluates, over several pages, and checks that it enqueues a job for exactly the users in
// it, as many as AudienceSize counts.
func TestSenderAudienceCampaignOnSQLite(t *testing.T) {
	h := newSenderOnSQLite(t, &webhook.Config{})
	var ups []webhook.UserUpdate
	var want []string
	for i := range 3000 {
		id := fmt.Sprintf("u%04d", i)
		plan := []string{"gold", "free"}[i%2]
		ups = append(ups, webhook.UserUpdate{User: webhook.User{ID: id, Attributes: webhook.Map{"plan": plan}}})
		if plan == "gold" && i%7 != 0 {
			want = append(want, id)
		}
	}
	h.do(t, "UpdateUsers", h.sender.UpdateUsers(h.ctx, ups))
	for i := range 3000 {
		if i%7 == 0 {
			h.do(t, "Trigger", h.sender.Trigger(h.ctx, webhook.Event{UserID: fmt.Sprintf("u%04d", i), Name: "churn"}))
		}
	}
	audience := webhook.All(webhook.Attr("plan", webhook.OpEq, "gold"), webhook.NeverDid("churn"))
	if n, err := h.sender.AudienceSize(h.ctx, audience); err != nil || n != len(want) {
		t.Fatalf("AudienceSize = %d, %v; want %d", n, err, len(want))
	}
	m := &webhook.Message{ID: "gold", URL: h.recv.URL + "/{{ user.id }}", Audience: audience,
		Delivery: webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "21:00", UserTimeZone: true}}
	h.do(t, "SaveMessage", h.sender.SaveMessage(h.ctx, m))
	h.do(t, "StartCampaign", h.sender.StartCampaign(h.ctx, "gold"))
	for {
		c, err := h.sender.Campaign(h.ctx, "gold")
		if err != nil {
			t.Fatal(err)
		}
		if c.NextAt.IsZero() {
			break
		}
		h.idle(t)
	}
	jobs, err := h.store.Jobs(h.ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: "gold"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.UserID)
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users with a job (-in the audience +got one):\n%s", diff)
	}
}
