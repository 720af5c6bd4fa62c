package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// identifyAt saves users given as "id" or "id@Time/Zone".
func (h *harness) identifyAt(tb testing.TB, users ...string) {
	tb.Helper()
	for _, u := range users {
		id, zone, _ := strings.Cut(u, "@")
		h.identify(tb, webhook.User{ID: id, TimeZone: zone})
	}
}

// campaign saves m, with a URL to the receiver, and starts its campaign.
func (h *harness) campaign(tb testing.TB, m *webhook.Message) {
	tb.Helper()
	m.URL = h.recv.URL + "/" + m.ID + "/{{ user.id }}"
	h.save(tb, m)
	if err := h.sender.StartCampaign(h.ctx, m.ID); err != nil {
		tb.Fatal(err)
	}
	h.idle(tb)
}

// runUntil moves the clock from due time to due time, of jobs and of fan-outs, until
// end, letting the Sender do what comes due at each.
func (h *harness) runUntil(tb testing.TB, end time.Time) {
	tb.Helper()
	for range 10000 {
		next := end
		if at, ok, err := nextDue(h.ctx, h.store); err != nil {
			tb.Fatal(err)
		} else if ok && at.Before(next) {
			next = at
		}
		if at, ok, err := nextCampaignDue(h.ctx, h.store); err != nil {
			tb.Fatal(err)
		} else if ok && at.Before(next) {
			next = at
		}
		if !next.After(h.clock.Now()) {
			next = h.clock.Now().Add(time.Second)
		}
		h.clock.Set(next)
		h.idle(tb)
		if !next.Before(end) {
			return
		}
	}
	tb.Fatal("runUntil: too many steps")
}

// sends returns the attempts of a message as "user time" in UTC, in time order.
func (h *harness) sends(tb testing.TB, messageID string) []string {
	tb.Helper()
	as := h.attempts(tb, webhook.AttemptQuery{MessageID: messageID})
	var out []string
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].Outcome == webhook.Succeeded {
			out = append(out, as[i].UserID+" "+as[i].Time.UTC().Format("2006-01-02 15:04"))
		}
	}
	slices.Sort(out)
	return out
}

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestImmediateAndManualCampaigns(t *testing.T) {
	for _, kind := range []webhook.DeliveryKind{webhook.Immediate, webhook.Manual} {
		t.Run(string(kind), func(t *testing.T) {
			h := newHarness(t, nil)
			h.identifyAt(t, "a", "b@Asia/Kathmandu", "c")
			h.campaign(t, &webhook.Message{ID: "m", Delivery: webhook.Delivery{Kind: kind}})
			want := []string{"a 2026-11-23 09:00", "b 2026-11-23 09:00", "c 2026-11-23 09:00"}
			if diff := cmp.Diff(want, h.sends(t, "m")); diff != "" {
				t.Errorf("sends (-want +got):\n%s", diff)
			}
			if n := len(h.recv.Requests()); n != 3 {
				t.Errorf("receiver got %d requests, want 3", n)
			}
			c, err := h.sender.Campaign(h.ctx, "m")
			if err != nil {
				t.Fatal(err)
			}
			if c.State != webhook.CampaignRunning || !c.NextAt.IsZero() || c.Run != 1 {
				t.Errorf("campaign = %+v, want running, fan-out done, run 1", c)
			}
			// A second start, such as a retry of the first, sends nobody anything.
			if err := h.sender.StartCampaign(h.ctx, "m"); !errors.Is(err, webhook.ErrCampaignStarted) {
				t.Errorf("a second StartCampaign = %v, want ErrCampaignStarted", err)
			}
			h.idle(t)
			if n := len(h.recv.Requests()); n != 3 {
				t.Errorf("after a second start the receiver got %d requests, want 3", n)
			}
			// A restart is a new run that sends to everyone again.
			if err := h.sender.RestartCampaign(h.ctx, "m"); err != nil {
				t.Fatal(err)
			}
			h.idle(t)
			if n := len(h.recv.Requests()); n != 6 {
				t.Errorf("after a second run the receiver got %d requests, want 6", n)
			}
		})
	}
}

func TestStartCampaignErrors(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "trig", URL: h.recv.URL, Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	h.save(t, &webhook.Message{ID: "later", URL: h.recv.URL, Delivery: webhook.Delivery{Kind: webhook.Scheduled, At: epoch.Add(time.Hour)}})
	if err := h.sender.StartCampaign(h.ctx, "nope"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("StartCampaign(unknown) = %v, want ErrNotFound", err)
	}
	if err := h.sender.StartCampaign(h.ctx, "trig"); !errors.Is(err, webhook.ErrCampaignStarted) {
		t.Errorf("StartCampaign(triggered) = %v, want ErrCampaignStarted: it runs from the start", err)
	}
	if err := h.sender.RestartCampaign(h.ctx, "trig"); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("RestartCampaign(triggered) = %v, want ErrInvalid", err)
	}
	h.save(t, &webhook.Message{ID: "over", URL: h.recv.URL, Delivery: webhook.Delivery{
		Kind: webhook.Recurring, TimeOfDay: "10:00", Start: epoch.Add(-2 * days), End: epoch.Add(-days),
	}})
	if err := h.sender.StartCampaign(h.ctx, "over"); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("StartCampaign(recurring, ended) = %v, want ErrInvalid", err)
	}
	if err := h.sender.StartCampaign(h.ctx, "later"); err != nil {
		t.Fatal(err)
	}
	if err := h.sender.StartCampaign(h.ctx, "later"); !errors.Is(err, webhook.ErrCampaignStarted) {
		t.Errorf("StartCampaign(running) = %v, want ErrCampaignStarted", err)
	}
	if err := h.sender.RestartCampaign(h.ctx, "later"); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("RestartCampaign(running, fanning out) = %v, want ErrInvalid", err)
	}
	if err := h.sender.PauseCampaign(h.ctx, "later"); err != nil {
		t.Fatal(err)
	}
	for name, start := range map[string]func(context.Context, string) error{
		"Start": h.sender.StartCampaign, "Restart": h.sender.RestartCampaign,
	} {
		if err := start(h.ctx, "later"); !errors.Is(err, webhook.ErrInvalid) {
			t.Errorf("%sCampaign(paused) = %v, want ErrInvalid", name, err)
		}
	}
	if err := h.sender.CancelCampaign(h.ctx, "later"); err != nil {
		t.Fatal(err)
	}
	if err := h.sender.StartCampaign(h.ctx, "later"); !errors.Is(err, webhook.ErrCampaignStarted) {
		t.Errorf("StartCampaign(cancelled) = %v, want ErrCampaignStarted", err)
	}
	if err := h.sender.RestartCampaign(h.ctx, "later"); err != nil {
		t.Errorf("RestartCampaign(cancelled) = %v, want a new run", err)
	}
	if c, err := h.sender.Campaign(h.ctx, "later"); err != nil || c.Run != 2 || c.State != webhook.CampaignRunning {
		t.Errorf("Campaign after a restart = %+v, %v; want run 2, running", c, err)
	}
	for name, err := range map[string]error{
		"pause":  h.sender.PauseCampaign(h.ctx, "nope"),
		"resume": h.sender.ResumeCampaign(h.ctx, "nope"),
		"cancel": h.sender.CancelCampaign(h.ctx, "nope"),
	} {
		if !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("%s of an unknown campaign = %v, want ErrNotFound", name, err)
		}
	}
}

func TestScheduledAtAnInstantAndInAFixedZone(t *testing.T) {
	h := newHarness(t, nil)
	h.identifyAt(t, "a@America/New_York", "b")
	h.campaign(t, &webhook.Message{ID: "instant", Delivery: webhook.Delivery{Kind: webhook.Scheduled, At: at("2026-11-23 15:20")}})
	h.campaign(t, &webhook.Message{ID: "gmt-7", Delivery: webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "10:00", TimeZone: "GMT-7"}})
	h.campaign(t, &webhook.Message{ID: "denver", Delivery: webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-11-24", TimeOfDay: "10:00", TimeZone: "America/Denver"}})
	if got := h.sends(t, ""); len(got) != 0 {
		t.Fatalf("sent before time: %v", got)
	}
	h.runUntil(t, at("2026-11-26 00:00"))
	for id, want := range map[string][]string{
		"instant": {"a 2026-11-23 15:20", "b 2026-11-23 15:20"},
		"gmt-7":   {"a 2026-11-23 17:00", "b 2026-11-23 17:00"},
		"denver":  {"a 2026-11-24 17:00", "b 2026-11-24 17:00"},
	} {
		if diff := cmp.Diff(want, h.sends(t, id)); diff != "" {
			t.Errorf("%s sends (-want +got):\n%s", id, diff)
		}
	}
}

// TestUserTimeZoneAcrossDST sends at a wall-clock time in each user's zone on the days its
// clocks change: a time the clocks skip is sent as if they had not jumped, and a time they
// show twice is sent once, the first time.
func TestUserTimeZoneAcrossDST(t *testing.T) {
	for _, tt := range []struct {
		name, zone, date, time string
		want                   string // UTC
	}{
		{"New York spring gap", "America/New_York", "2026-03-08", "02:30", "2026-03-08 07:30"}, // 03:30 EDT
		{"New York autumn repeat", "America/New_York", "2026-11-01", "01:30", "2026-11-01 05:30"},
		{"London spring gap", "Europe/London", "2026-03-29", "01:30", "2026-03-29 01:30"}, // 02:30 BST
		{"London spring 02:30", "Europe/London", "2026-03-29", "02:30", "2026-03-29 01:30"},
		{"London autumn repeat", "Europe/London", "2026-10-25", "01:30", "2026-10-25 00:30"},
		{"Kathmandu +05:45", "Asia/Kathmandu", "2026-03-08", "02:30", "2026-03-07 20:45"},
		{"Lord Howe spring gap", "Australia/Lord_Howe", "2026-10-04", "02:15", "2026-10-03 15:45"}, // 02:45 +11
		{"Lord Howe spring 02:30", "Australia/Lord_Howe", "2026-10-04", "02:30", "2026-10-03 15:30"},
		{"Lord Howe autumn repeat", "Australia/Lord_Howe", "2026-04-05", "01:45", "2026-04-04 14:45"}, // first, at +11
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			launch := at(tt.date + " 00:00").Add(-48 * time.Hour)
			h.clock.Set(launch)
			h.identifyAt(t, "u@"+tt.zone)
			h.campaign(t, &webhook.Message{ID: "m", Delivery: webhook.Delivery{Kind: webhook.Scheduled, Date: tt.date, TimeOfDay: tt.time, UserTimeZone: true}})
			h.runUntil(t, launch.Add(5*24*time.Hour))
			if diff := cmp.Diff([]string{"u " + tt.want}, h.sends(t, "m")); diff != "" {
				t.Errorf("sends (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("one campaign in four zones", func(t *testing.T) {
		h := newHarness(t, nil)
		h.clock.Set(at("2026-03-06 12:00"))
		h.identifyAt(t, "ny@America/New_York", "ldn@Europe/London", "ktm@Asia/Kathmandu", "lhi@Australia/Lord_Howe", "none")
		h.campaign(t, &webhook.Message{ID: "m", Delivery: webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-03-08", TimeOfDay: "02:30", UserTimeZone: true}})
		h.runUntil(t, at("2026-03-10 00:00"))
		want := []string{"ktm 2026-03-07 20:45", "ldn 2026-03-08 02:30", "lhi 2026-03-07 15:30", "none 2026-03-08 02:30", "ny 2026-03-08 07:30"}
		if diff := cmp.Diff(want, h.sends(t, "m")); diff != "" {
			t.Errorf("sends (-want +got):\n%s", diff)
		}
	})
}

func TestScheduledPassedPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy webhook.PassedPolicy
		want   []string
	}{
		{"", []string{"ktm 2026-11-23 12:00", "ldn 2026-11-23 12:00", "none 2026-11-23 17:00", "ny 2026-11-23 14:00"}},
		{webhook.PassedSendNow, []string{"ktm 2026-11-23 12:00", "ldn 2026-11-23 12:00", "none 2026-11-23 17:00", "ny 2026-11-23 14:00"}},
		{webhook.PassedSkip, []string{"none 2026-11-23 17:00", "ny 2026-11-23 14:00"}},
		{webhook.PassedNextDay, []string{"ktm 2026-11-24 03:15", "ldn 2026-11-24 09:00", "none 2026-11-23 17:00", "ny 2026-11-23 14:00"}},
	} {
		t.Run(string(tt.policy), func(t *testing.T) {
			la, err := time.LoadLocation("America/Los_Angeles")
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, &webhook.Config{DefaultTimeZone: la})
			h.clock.Set(at("2026-11-23 12:00"))
			h.identifyAt(t, "ldn@Europe/London", "ny@America/New_York", "ktm@Asia/Kathmandu", "none")
			h.campaign(t, &webhook.Message{ID: "m", Delivery: webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "09:00", UserTimeZone: true, IfPassed: tt.policy}})
			h.runUntil(t, at("2026-11-27 00:00"))
			if diff := cmp.Diff(tt.want, h.sends(t, "m")); diff != "" {
				t.Errorf("sends (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecurring(t *testing.T) {
	for _, tt := range []struct {
		name     string
		launch   string // defaults to epoch
		delivery webhook.Delivery
		users    []string
		until    string
		want     []string
	}{
		{
			name:     "daily in each user's zone across clock changes",
			launch:   "2026-10-01 00:00",
			delivery: webhook.Delivery{Kind: webhook.Recurring, TimeOfDay: "02:15", UserTimeZone: true, End: at("2026-10-05 00:00")},
			users:    []string{"lhi@Australia/Lord_Howe"},
			until:    "2026-10-06 00:00",
			want: []string{
				// The 1st's 02:15 (15:45 UTC on the 30th) passed before the start.
				"lhi 2026-10-01 15:45", "lhi 2026-10-02 15:45",
				"lhi 2026-10-03 15:45", // 02:15 is skipped by the clocks on the 4th: sent at 02:45
				"lhi 2026-10-04 15:15",
			},
		},
		{
			name:     "daily in New York across its autumn change",
			launch:   "2026-10-31 00:00",
			delivery: webhook.Delivery{Kind: webhook.Recurring, TimeOfDay: "01:30", TimeZone: "America/New_York"},
			users:    []string{"a"},
			until:    "2026-11-03 00:00",
			want:     []string{"a 2026-10-31 05:30", "a 2026-11-01 05:30", "a 2026-11-02 06:30"},
		},
		{
			name:     "weekdays for a week",
			delivery: webhook.Delivery{Kind: webhook.Recurring, Weekdays: []time.Weekday{time.Monday, time.Wednesday, time.Friday}, TimeOfDay: "09:00", TimeZone: "Europe/London"},
			users:    []string{"a", "b@Asia/Tokyo"},
			until:    "2026-11-30 08:59",
			want: []string{
				"a 2026-11-23 09:00", "a 2026-11-25 09:00", "a 2026-11-27 09:00",
				"b 2026-11-23 09:00", "b 2026-11-25 09:00", "b 2026-11-27 09:00",
			},
		},
		{
			name:     "weekdays in each user's zone until an end",
			delivery: webhook.Delivery{Kind: webhook.Recurring, Weekdays: []time.Weekday{time.Tuesday, time.Thursday}, TimeOfDay: "08:00", UserTimeZone: true, End: at("2026-11-27 00:00")},
			users:    []string{"ny@America/New_York", "ktm@Asia/Kathmandu"},
			until:    "2026-12-10 00:00",
			want: []string{
				"ktm 2026-11-24 02:15", "ktm 2026-11-26 02:15",
				"ny 2026-11-24 13:00", "ny 2026-11-26 13:00",
			},
		},
		{
			name:     "daily from a start",
			delivery: webhook.Delivery{Kind: webhook.Recurring, TimeOfDay: "07:30", Start: at("2026-11-25 00:00"), End: at("2026-11-28 00:00")},
			users:    []string{"a"},
			until:    "2026-12-01 00:00",
			want:     []string{"a 2026-11-25 07:30", "a 2026-11-26 07:30", "a 2026-11-27 07:30"},
		},
		{
			name:     "day 31 of each month",
			delivery: webhook.Delivery{Kind: webhook.Recurring, DayOfMonth: 31, TimeOfDay: "12:00", TimeZone: "UTC+01:00"},
			users:    []string{"a"},
			until:    "2027-03-01 00:00",
			want:     []string{"a 2026-11-30 11:00", "a 2026-12-31 11:00", "a 2027-01-31 11:00", "a 2027-02-28 11:00"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if tt.launch != "" {
				h.clock.Set(at(tt.launch))
			}
			h.identifyAt(t, tt.users...)
			h.campaign(t, &webhook.Message{ID: "m", Delivery: tt.delivery})
			h.runUntil(t, at(tt.until))
			if diff := cmp.Diff(tt.want, h.sends(t, "m")); diff != "" {
				t.Errorf("sends (-want +got):\n%s", diff)
			}
			if n := len(h.recv.Requests()); n != len(tt.want) {
				t.Errorf("receiver got %d requests, want %d", n, len(tt.want))
			}
		})
	}
}

func TestOptimalTime(t *testing.T) {
	h := newHarness(t, nil)
	h.identifyAt(t, "active@America/New_York", "newbie@Europe/London", "ktm@Asia/Kathmandu")
	event := func(user string, t0 time.Time) {
		if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: user, Name: "open", Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	// active opens the app at 18:10 New York time (23:10 UTC) most days, and sometimes at 07:00.
	for d := 1; d <= 5; d++ {
		event("active", at("2026-11-23 23:10").AddDate(0, 0, -d))
	}
	event("active", at("2026-11-21 12:00"))
	event("active", at("2026-11-22 12:05"))
	event("active", at("2026-10-01 23:00")) // too old to count
	// ktm is active at 20:50 Kathmandu time (15:05 UTC).
	for d := 1; d <= 3; d++ {
		event("ktm", at("2026-11-23 15:05").AddDate(0, 0, -d))
	}
	event("newbie", at("2026-11-22 10:00"))
	h.campaign(t, &webhook.Message{ID: "day", Delivery: webhook.Delivery{Kind: webhook.OptimalTime, TimeOfDay: "12:00"}})
	h.campaign(t, &webhook.Message{ID: "morning", Delivery: webhook.Delivery{Kind: webhook.OptimalTime, Window: 6 * time.Hour}})
	h.campaign(t, &webhook.Message{ID: "short", Delivery: webhook.Delivery{Kind: webhook.OptimalTime, Window: 2 * time.Hour}})
	h.campaign(t, &webhook.Message{ID: "late", Delivery: webhook.Delivery{Kind: webhook.OptimalTime, TimeOfDay: "12:00", Window: 2 * time.Hour}})
	h.runUntil(t, at("2026-11-25 00:00"))
	for id, want := range map[string][]string{
		// No events in anyone's hours of the window: all at the start.
		"short": {"active 2026-11-23 09:00", "ktm 2026-11-23 09:00", "newbie 2026-11-23 09:00"},
		// The same, and newbie's fallback time, 12:00 in London, comes after the window.
		"late": {"active 2026-11-23 09:00", "ktm 2026-11-23 09:00", "newbie 2026-11-23 09:00"},
		// The most active hour within 24 hours; newbie has too little history and gets the
		// fallback time, 12:00 in London.
		"day": {"active 2026-11-23 23:00", "ktm 2026-11-23 14:15", "newbie 2026-11-23 12:00"},
		// Within 6 hours (04:00 to 10:00 in New York) active's best hour is 07:00; ktm's
		// 20:00 (14:15 UTC) still comes within them; newbie, without a fallback time, gets
		// it at the start.
		"morning": {"active 2026-11-23 12:00", "ktm 2026-11-23 14:15", "newbie 2026-11-23 09:00"},
	} {
		if diff := cmp.Diff(want, h.sends(t, id)); diff != "" {
			t.Errorf("%s sends (-want +got):\n%s", id, diff)
		}
	}
}

func TestPauseResumeCancel(t *testing.T) {
	h := newHarness(t, nil)
	h.identifyAt(t, "a", "b", "c@Europe/Paris")
	// Sent at 12:00 on each user's clock: fanned out at once, due later.
	noon := webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-11-23", TimeOfDay: "12:00", UserTimeZone: true}
	h.campaign(t, &webhook.Message{ID: "paused", Delivery: noon})
	h.campaign(t, &webhook.Message{ID: "cancelled", Delivery: noon})
	h.campaign(t, &webhook.Message{ID: "paused-then-cancelled", Delivery: noon})
	h.clock.Set(at("2026-11-23 10:00"))
	h.idle(t)
	for _, id := range []string{"paused", "paused-then-cancelled"} {
		if err := h.sender.PauseCampaign(h.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"cancelled", "paused-then-cancelled"} {
		if err := h.sender.CancelCampaign(h.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sender.ResumeCampaign(h.ctx, "cancelled"); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("ResumeCampaign(cancelled) = %v, want ErrInvalid", err)
	}
	h.runUntil(t, at("2026-11-23 14:00"))
	if got := h.sends(t, ""); len(got) != 0 {
		t.Errorf("sent while paused or cancelled: %v", got)
	}
	if err := h.sender.ResumeCampaign(h.ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	h.runUntil(t, at("2026-11-24 00:00"))
	// Paris's noon passed during the pause; a and b's noon came after it.
	want := []string{"a 2026-11-23 14:00", "b 2026-11-23 14:00", "c 2026-11-23 14:00"}
	if diff := cmp.Diff(want, h.sends(t, "paused")); diff != "" {
		t.Errorf("resumed sends (-want +got):\n%s", diff)
	}
	for _, id := range []string{"cancelled", "paused-then-cancelled"} {
		as := h.attempts(t, webhook.AttemptQuery{MessageID: id})
		if len(as) != 3 {
			t.Fatalf("%s: %d attempts logged, want 3 cancelled", id, len(as))
		}
		for _, a := range as {
			if a.Outcome != webhook.Cancelled || a.URL != "" || !a.Time.Equal(at("2026-11-23 10:00")) {
				t.Errorf("%s: attempt %+v, want cancelled at 10:00 with no request", id, a)
			}
		}
		c, err := h.sender.Campaign(h.ctx, id)
		if err != nil || c.State != webhook.CampaignCancelled {
			t.Errorf("%s: campaign %+v, %v; want cancelled", id, c, err)
		}
	}
	if n := len(h.recv.Requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
}

func TestPausedRecurringCampaignDoesNotFanOut(t *testing.T) {
	h := newHarness(t, nil)
	h.identifyAt(t, "a")
	h.campaign(t, &webhook.Message{ID: "m", Delivery: webhook.Delivery{Kind: webhook.Recurring, TimeOfDay: "10:00"}})
	h.runUntil(t, at("2026-11-24 12:00"))
	if err := h.sender.PauseCampaign(h.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	h.runUntil(t, at("2026-11-27 09:00"))
	if err := h.sender.ResumeCampaign(h.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	h.runUntil(t, at("2026-11-28 12:00"))
	// The 25th's occurrence was due when the pause began and is sent on resume; the 26th
	// passed entirely during the pause and is skipped.
	want := []string{"a 2026-11-23 10:00", "a 2026-11-24 10:00", "a 2026-11-27 09:00", "a 2026-11-27 10:00", "a 2026-11-28 10:00"}
	if diff := cmp.Diff(want, h.sends(t, "m")); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
}

// crashingStore writes the second batch of jobs and then fails, as if the process died
// before recording its progress, and fails every later batch without writing it.
type crashingStore struct {
	*memstore.Store
	mu      sync.Mutex // guards batches
	batches int
}

func (s *crashingStore) Enqueue(ctx context.Context, p webhook.EnqueueParams) (webhook.EnqueueResult, error) {
	s.mu.Lock()
	s.batches++
	n := s.batches
	s.mu.Unlock()
	switch {
	case n == 2:
		if _, err := s.Store.Enqueue(ctx, p); err != nil {
			return webhook.EnqueueResult{}, err
		}
		return webhook.EnqueueResult{}, errors.New("crashed after writing")
	case n > 2:
		return webhook.EnqueueResult{}, errors.New("crashed")
	}
	return s.Store.Enqueue(ctx, p)
}

// startSender starts another Sender on store, with the harness's clock.
func (h *harness) startSender(tb testing.TB, store webhook.Store, id string) *webhook.Sender {
	tb.Helper()
	// No host rate limit: the whole campaign goes out at one instant of the fake clock.
	s, _ := webhooktest.NewSender(tb, store, &webhook.Config{ID: id, Clock: h.clock, Logger: slog.New(slog.DiscardHandler)})
	webhooktest.Start(tb, s)
	return s
}

func TestFanOutResumesAfterCrash(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.sender.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	const users = 2500 // pages of 100, 1000, 1000 and 400 users
	for i := range users {
		if err := putUser(h.ctx, h.store, webhook.User{ID: fmt.Sprintf("u%05d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/{{ user.id }}", Delivery: webhook.Delivery{Kind: webhook.Immediate}})
	a := h.startSender(t, &crashingStore{Store: h.store}, "a")
	if err := a.StartCampaign(h.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	if err := a.Stop(h.ctx); err != nil { // the crash
		t.Fatal(err)
	}
	c, err := getCampaign(h.ctx, h.store, "m")
	if err != nil {
		t.Fatal(err)
	}
	if c.After != "u00099" || c.LeaseOwner != "a" {
		t.Fatalf("after the crash the campaign is %+v, want the first page recorded and leased to a", c)
	}
	h.startSender(t, h.store, "b")
	h.idle(t) // a's lease holds b off
	if got := len(h.recv.Requests()); got != 1100 {
		t.Fatalf("before a's lease expired the receiver got %d requests, want the 1100 enqueued by a", got)
	}
	h.clock.Advance(c.LeaseExpiresAt.Sub(h.clock.Now()))
	h.idle(t)
	seen := map[string]int{}
	for _, r := range h.recv.Requests() {
		seen[r.URI]++
	}
	for i := range users {
		if n := seen[fmt.Sprintf("/u%05d", i)]; n != 1 {
			t.Errorf("user u%05d got %d requests, want 1", i, n)
		}
	}
	if c, err := getCampaign(h.ctx, h.store, "m"); err != nil || !c.NextAt.IsZero() || c.LeaseOwner != "" {
		t.Errorf("campaign = %+v, %v; want its fan-out finished", c, err)
	}
}

func TestDeliveryValidation(t *testing.T) {
	for _, tt := range []struct {
		d    webhook.Delivery
		want []string // problem paths
	}{
		{webhook.Delivery{Kind: webhook.Immediate}, nil},
		{webhook.Delivery{Kind: webhook.Immediate, TimeOfDay: "09:00"}, []string{"delivery.time_of_day"}},
		{webhook.Delivery{Kind: webhook.Scheduled}, []string{"delivery.at"}},
		{webhook.Delivery{Kind: webhook.Scheduled, At: epoch, Date: "2026-01-01"}, []string{"delivery.at"}},
		{webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-13-01", TimeOfDay: "9am"}, []string{"delivery.time_of_day", "delivery.date"}},
		{webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-01-01"}, []string{"delivery.time_of_day"}},
		{webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-01-01", TimeOfDay: "09:00", TimeZone: "GMT-7", IfPassed: webhook.PassedNextDay}, nil},
		{webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-01-01", TimeOfDay: "09:00", TimeZone: "Mars/Base", IfPassed: "later"}, []string{"delivery.time_zone", "delivery.if_passed"}},
		{webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-01-01", TimeOfDay: "09:00", TimeZone: "UTC", UserTimeZone: true}, []string{"delivery.time_zone"}},
		{webhook.Delivery{Kind: webhook.Scheduled, Date: "2026-01-01", TimeOfDay: "09:00", TimeZone: "GMT+15"}, []string{"delivery.time_zone"}},
		{webhook.Delivery{Kind: webhook.Recurring}, []string{"delivery.time_of_day"}},
		{webhook.Delivery{Kind: webhook.Recurring, TimeOfDay: "09:00", Weekdays: []time.Weekday{7}, DayOfMonth: 32}, []string{"delivery.weekdays[0]", "delivery.day_of_month", "delivery.day_of_month"}},
		{webhook.Delivery{Kind: webhook.Recurring, TimeOfDay: "09:00", Start: epoch, End: epoch}, []string{"delivery.end"}},
		{webhook.Delivery{Kind: webhook.Recurring, TimeOfDay: "09:00", IfPassed: webhook.PassedSkip}, []string{"delivery.if_passed"}},
		{webhook.Delivery{Kind: webhook.OptimalTime, Window: 8 * 24 * time.Hour}, []string{"delivery.window"}},
		{webhook.Delivery{Kind: webhook.Triggered, Event: "e", Window: time.Hour}, []string{"delivery.window"}},
	} {
		err := (&webhook.Message{ID: "m", URL: "https://example.com/", Delivery: tt.d}).Validate()
		var got []string
		var ve *webhook.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				got = append(got, p.Path)
			}
		} else if err != nil {
			t.Fatalf("Validate(%+v) = %v, not a *ValidationError", tt.d, err)
		}
		if !cmp.Equal(got, tt.want) {
			t.Errorf("Validate(%+v) problems at %v, want %v (%v)", tt.d, got, tt.want, err)
		}
	}
}

// interruptingStore sets a campaign's state, as a pause or cancel from elsewhere would, right
// after the first batch of jobs is written and before the fan-out records its progress.
type interruptingStore struct {
	*memstore.Store
	state webhook.CampaignState
	once  sync.Once
}

func (s *interruptingStore) Enqueue(ctx context.Context, p webhook.EnqueueParams) (webhook.EnqueueResult, error) {
	res, err := s.Store.Enqueue(ctx, p)
	if err != nil {
		return res, err
	}
	s.once.Do(func() {
		var c *webhook.Campaign
		if c, err = getCampaign(ctx, s.Store, p.Jobs[0].MessageID); err == nil {
			c.State = s.state
			err = s.Store.PutCampaign(ctx, c)
		}
	})
	return res, err
}

func TestPauseOrCancelDuringAPage(t *testing.T) {
	const users = 1500 // pages of 100, 1000 and 400 users
	for _, state := range []webhook.CampaignState{webhook.CampaignPaused, webhook.CampaignCancelled} {
		t.Run(string(state), func(t *testing.T) {
			h := newHarness(t, nil)
			if err := h.sender.Stop(h.ctx); err != nil {
				t.Fatal(err)
			}
			for i := range users {
				if err := putUser(h.ctx, h.store, webhook.User{ID: fmt.Sprintf("u%04d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/{{ user.id }}", Delivery: webhook.Delivery{Kind: webhook.Immediate}})
			s := h.startSender(t, &interruptingStore{Store: h.store, state: state}, "s")
			if err := s.StartCampaign(h.ctx, "m"); err != nil {
				t.Fatal(err)
			}
			h.idle(t)
			if n := len(h.recv.Requests()); n != 0 {
				t.Fatalf("%d requests sent from a page enqueued as the campaign was %s, want 0", n, state)
			}
			c, err := s.Campaign(h.ctx, "m")
			if err != nil || c.After != "u0099" {
				t.Fatalf("campaign = %+v, %v; want the first page recorded and no more", c, err)
			}
			if state == webhook.CampaignCancelled {
				as := h.attempts(t, webhook.AttemptQuery{MessageID: "m"})
				if len(as) != 100 || as[0].Outcome != webhook.Cancelled {
					t.Errorf("%d attempts logged (first %+v), want the first page's 100 cancelled", len(as), as[0])
				}
				return
			}
			if err := s.ResumeCampaign(h.ctx, "m"); err != nil {
				t.Fatal(err)
			}
			h.idle(t)
			seen := map[string]int{}
			for _, r := range h.recv.Requests() {
				seen[r.URI]++
			}
			for i := range users {
				if n := seen[fmt.Sprintf("/u%04d", i)]; n != 1 {
					t.Errorf("user u%04d got %d requests after resuming, want 1", i, n)
				}
			}
		})
	}
}

// storeReads is a memstore that counts its reads of one message and of users.
type storeReads struct {
	*memstore.Store
	mu sync.Mutex
	n  map[string]int // by method
}

func (s *storeReads) count(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	s.n[method]++
}

func (s *storeReads) Messages(ctx context.Context, q webhook.MessageQuery) ([]*webhook.Message, error) {
	switch {
	case q.ID != "":
		s.count("Message") // a read of one message, not of the catalog
	case q.Event == "":
		s.count("Catalog") // a page of the catalog
	}
	return s.Store.Messages(ctx, q)
}

func (s *storeReads) Users(ctx context.Context, q webhook.UserQuery) ([]webhook.User, error) {
	s.count("Users")
	return s.Store.Users(ctx, q)
}

// reads returns how many times method was called.
func (s *storeReads) reads(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[method]
}

// newReadsSender returns a Sender of one worker on a storeReads and a fake clock, with a
// receiver.
func newReadsSender(t *testing.T) (*storeReads, *webhook.Sender, *webhooktest.FakeClock, *webhooktest.Receiver) {
	store := &storeReads{Store: memstore.New()}
	clock := webhooktest.NewFakeClock(epoch)
	s, _ := webhooktest.NewSender(t, store, &webhook.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler), HostRate: -1, Workers: 1})
	return store, s, clock, webhooktest.NewReceiver(t)
}

func TestOlderMessageVersionIsCompiledOnce(t *testing.T) {
	ctx := t.Context()
	store, s, clock, recv := newReadsSender(t)
	const users = 20
	for i := range users {
		if err := s.Identify(ctx, webhook.User{ID: fmt.Sprintf("u%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: recv.URL + "/v1", Delivery: webhook.Delivery{Kind: webhook.Immediate}}); err != nil {
		t.Fatal(err)
	}
	if err := s.StartCampaign(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	// The campaign sends version 1 after version 2 is saved.
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: recv.URL + "/v2", Delivery: webhook.Delivery{Kind: webhook.Immediate}}); err != nil {
		t.Fatal(err)
	}
	before := store.reads("Message")
	webhooktest.Start(t, s)
	reqs, err := recv.Wait(ctx, users)
	if err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if r.URI != "/v1" {
			t.Fatalf("request to %s, want /v1", r.URI)
		}
	}
	// Version 1, compiled when it was saved, is kept beside version 2 for the fan-out and
	// all its jobs (one worker, so that no two miss the cache at once).
	if n := store.reads("Message") - before; n != 0 {
		t.Errorf("Store.Messages called %d times for the fan-out and %d jobs of an older version, want 0", n, users)
	}
}

// An OptimalTime campaign counts each event at its hour on the user's clock when it happened:
// a New Yorker who opened the app at 19:00 in the days before the clocks went back (Nov 1,
// 2026) gets the message at 19:00 after the change, not 18:00, which the offset in force at
// the start (EST) would give.
func TestOptimalTimeAcrossDaylightSaving(t *testing.T) {
	h := newHarness(t, nil)
	h.identifyAt(t, "ny@America/New_York")
	for d := 27; d <= 31; d++ { // 19:00 EDT is 23:00 UTC
		e := webhook.Event{UserID: "ny", Name: "open", Time: at(fmt.Sprintf("2026-10-%02d 23:00", d))}
		if err := h.sender.Trigger(h.ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	h.campaign(t, &webhook.Message{ID: "m", Delivery: webhook.Delivery{Kind: webhook.OptimalTime}})
	h.runUntil(t, at("2026-11-25 00:00"))
	// 19:00 EST on Nov 23 is 00:00 UTC on Nov 24.
	if diff := cmp.Diff([]string{"ny 2026-11-24 00:00"}, h.sends(t, "m")); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
}

// Send reads the message from the catalog, not the Store, and a version this Sender saves is
// sent at once by the next Send.
func TestSendReadsNoMessageFromTheStore(t *testing.T) {
	ctx := t.Context()
	store, s, _, recv := newReadsSender(t)
	webhooktest.Start(t, s)
	for i, path := range []string{"/v1", "/v2"} {
		if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: recv.URL + path}); err != nil {
			t.Fatal(err)
		}
		before := store.reads("Message")
		for range 3 {
			if _, err := s.Send(ctx, "m", "u", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if n := store.reads("Message") - before; n != 0 {
			t.Errorf("version %d: Store.Messages called %d times for 3 Sends, want 0", i+1, n)
		}
		reqs, err := recv.Wait(ctx, 3*(i+1))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reqs[3*i:] {
			if r.URI != path {
				t.Errorf("version %d: request to %s, want %s", i+1, r.URI, path)
			}
		}
	}
}
