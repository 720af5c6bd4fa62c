package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// A job that failed for good is replayed by filter: the dry run counts it, the replay sends
// it again with the same webhook-id, and its attempt continues the numbering, marked Replay.
func TestReplaySendsAFailedJobAgain(t *testing.T) {
	h := newHarness(t, nil)
	h.recv.Reply(http.StatusGone) // final: the job fails for good
	first := h.sendOnce(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	if first.Outcome != webhook.Failed {
		t.Fatalf("first attempt = %s, want failed", first.Outcome)
	}
	u, _ := url.Parse(h.recv.URL)
	if first.Host != u.Host || first.Replay {
		t.Errorf("first attempt Host %q Replay %v, want %q false", first.Host, first.Replay, u.Host)
	}
	q := webhook.JobsQuery{MessageID: "m"}
	n, err := h.sender.Replay(h.ctx, q, webhook.ReplayOptions{DryRun: true})
	if err != nil || n != 1 {
		t.Fatalf("Replay dry run = %d, %v; want 1", n, err)
	}
	if j, _ := h.sender.Job(h.ctx, first.JobID); j.State != webhook.JobFailed {
		t.Fatalf("after a dry run the job is %s, want still failed", j.State)
	}
	if n, err = h.sender.Replay(h.ctx, q, webhook.ReplayOptions{}); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1", n, err)
	}
	h.idle(t)
	as := h.attempts(t, webhook.AttemptQuery{JobID: first.JobID})
	if len(as) != 2 {
		t.Fatalf("got %d attempts, want 2", len(as))
	}
	if a := as[0]; a.Outcome != webhook.Succeeded || a.Number != 2 || !a.Replay {
		t.Errorf("replayed attempt = %s number %d replay %v, want succeeded number 2 replay true", a.Outcome, a.Number, a.Replay)
	}
	reqs := h.recv.Requests()
	if len(reqs) != 2 || reqs[0].Header.Get("Webhook-Id") != reqs[1].Header.Get("Webhook-Id") || reqs[1].Header.Get("Webhook-Id") != first.JobID {
		t.Errorf("webhook-id of the two requests differ or are not the job's ID %q", first.JobID)
	}
	if n, err = h.sender.Replay(h.ctx, q, webhook.ReplayOptions{}); err != nil || n != 0 {
		t.Errorf("Replay of a succeeded job without naming the state = %d, %v; want 0", n, err)
	}
	cs, err := h.sender.JobCounts(h.ctx, "m")
	if err != nil || len(cs) != 1 || cs[0].States[webhook.JobSucceeded] != 1 || cs[0].Total() != 1 || cs[0].Pending() != 0 {
		t.Errorf("JobCounts = %+v, %v; want one succeeded job", cs, err)
	}
}

// A job that used up its retries gets them again when it is replayed: the RetryPolicy counts
// its attempts from the replay, while their numbers go on.
func TestReplayGetsTheRetriesOfANewJob(t *testing.T) {
	h := newHarness(t, &webhook.Config{RetryPolicy: webhook.DefaultRetryPolicy{MaxRetries: 1}})
	h.recv.Reply(http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	first := h.sendOnce(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	h.advance(t, time.Minute) // the one retry, which fails for good
	if j, _ := h.sender.Job(h.ctx, first.JobID); j.State != webhook.JobFailed || j.Attempts != 2 {
		t.Fatalf("after its retry the job is %s with %d attempts, want failed with 2", j.State, j.Attempts)
	}
	if n, err := h.sender.Replay(h.ctx, webhook.JobsQuery{MessageID: "m"}, webhook.ReplayOptions{}); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1", n, err)
	}
	h.idle(t)
	h.advance(t, time.Minute)
	var got []string
	for _, a := range h.attempts(t, webhook.AttemptQuery{JobID: first.JobID}) {
		got = append(got, fmt.Sprintf("%d %s replay=%v", a.Number, a.Outcome, a.Replay))
	}
	want := []string{"4 succeeded replay=true", "3 retrying replay=true", "2 failed replay=false", "1 retrying replay=false"}
	if !cmp.Equal(got, want) {
		t.Errorf("attempts = %q, want %q", got, want)
	}
}

func TestReplayRefusesAnEmptyFilter(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.sender.Replay(h.ctx, webhook.JobsQuery{}, webhook.ReplayOptions{DryRun: true})
	if !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), "names no message") {
		t.Errorf("Replay with an empty filter = %v, want ErrInvalid saying it names nothing", err)
	}
}

// hidden is a Store with only the roles of the Store interface: not an Inspector.
type hidden struct{ webhook.Store }

func TestQueryAPINeedsTheInspectorRole(t *testing.T) {
	s, _ := webhooktest.NewSender(t, hidden{memstore.New()}, nil)
	ctx := t.Context()
	_, errJobs := s.Jobs(ctx, webhook.JobsQuery{})
	_, errLog := s.AttemptLog(ctx, webhook.AttemptLogQuery{})
	_, errCounts := s.JobCounts(ctx)
	_, errHosts := s.Hosts(ctx, webhooktest.Epoch)
	_, errReplay := s.Replay(ctx, webhook.JobsQuery{MessageID: "m"}, webhook.ReplayOptions{})
	_, errQueue := s.QueueStats(ctx)
	for name, err := range map[string]error{"Jobs": errJobs, "AttemptLog": errLog, "JobCounts": errCounts, "Hosts": errHosts, "Replay": errReplay} {
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "webhook.Inspector") {
			t.Errorf("%s on a Store without Inspector = %v, want errors.ErrUnsupported naming the role", name, err)
		}
	}
	if !errors.Is(errQueue, errors.ErrUnsupported) || !strings.Contains(errQueue.Error(), "webhook.QueueReader") {
		t.Errorf("QueueStats on a Store without QueueReader = %v, want errors.ErrUnsupported naming the role", errQueue)
	}
}

func TestQueryAPIRefusesBadQueries(t *testing.T) {
	s, _ := webhooktest.NewSender(t, memstore.New(), nil)
	ctx := t.Context()
	for _, tt := range []struct {
		name, want string
		call       func() error
	}{
		{"negative limit", "limit", func() error { _, err := s.Jobs(ctx, webhook.JobsQuery{Limit: -1}); return err }},
		{"unknown state", "states", func() error { _, err := s.Jobs(ctx, webhook.JobsQuery{States: []webhook.JobState{"sent"}}); return err }},
		{"bad cursor", "cursor", func() error { _, err := s.Jobs(ctx, webhook.JobsQuery{Cursor: "nope"}); return err }},
		{"status class", "status class", func() error { _, err := s.AttemptLog(ctx, webhook.AttemptLogQuery{StatusClass: 6}); return err }},
		{"unknown outcome", "outcomes", func() error {
			_, err := s.AttemptLog(ctx, webhook.AttemptLogQuery{Outcomes: []webhook.Outcome{"ok"}})
			return err
		}},
		{"job cursor in the log", "cursor", func() error {
			_, err := s.AttemptLog(ctx, webhook.AttemptLogQuery{Cursor: "MjAyNi0xMS0yM1QwOTowMDowMFogam9i"})
			return err
		}},
	} {
		if err := tt.call(); !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want ErrInvalid naming %q", tt.name, err, tt.want)
		}
	}
}

// RetryJob makes a scheduled job due now and replays an ended one; CancelJob cancels a
// scheduled job and refuses an ended one; both say which job is missing.
func TestRetryJobAndCancelJob(t *testing.T) {
	store := memstore.New()
	s, clock := webhooktest.NewSender(t, store, nil)
	ctx := t.Context()
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: "https://example.com/hook"}); err != nil {
		t.Fatal(err)
	}
	later := clock.Now().Add(time.Hour)
	a, _ := s.Send(ctx, "m", "u1", nil, &webhook.SendOptions{At: later})
	b, _ := s.Send(ctx, "m", "u2", nil, &webhook.SendOptions{At: later})
	if err := s.RetryJob(ctx, a); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.Job(ctx, a); j.State != webhook.JobScheduled || !j.DueAt.Equal(clock.Now()) || j.ReplayFrom != 0 {
		t.Errorf("after RetryJob of a scheduled job: %s due %v ReplayFrom %d, want scheduled due now, not a replay", j.State, j.DueAt, j.ReplayFrom)
	}
	if err := s.CancelJob(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.CancelJob(ctx, b); !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("CancelJob of a cancelled job = %v, want ErrInvalid saying it is cancelled", err)
	}
	if err := s.RetryJob(ctx, b); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.Job(ctx, b); j.State != webhook.JobScheduled || !j.DueAt.Equal(clock.Now()) || j.ReplayFrom != 1 {
		t.Errorf("after RetryJob of a cancelled job: %s due %v ReplayFrom %d, want a replay due now from attempt 1", j.State, j.DueAt, j.ReplayFrom)
	}
	for name, err := range map[string]error{"RetryJob": s.RetryJob(ctx, "nope"), "CancelJob": s.CancelJob(ctx, "nope")} {
		if !errors.Is(err, webhook.ErrNotFound) || !strings.Contains(err.Error(), "nope") {
			t.Errorf("%s of a missing job = %v, want ErrNotFound naming it", name, err)
		}
	}
	if _, err := s.Job(ctx, "nope"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Job of a missing job = %v, want ErrNotFound", err)
	}
}

// Hosts counts the attempts to each host and gives its breaker as the Sender sees it.
func TestHostsReportTheBreaker(t *testing.T) {
	h := newHarness(t, &webhook.Config{BreakerThreshold: 1, BreakerCooldown: time.Hour, RetryPolicy: webhook.DefaultRetryPolicy{MaxRetries: -1}})
	h.recv.Reply(http.StatusServiceUnavailable)
	h.sendOnce(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	hs, err := h.sender.Hosts(h.ctx, epoch)
	u, _ := url.Parse(h.recv.URL)
	want := []webhook.HostStats{{Host: u.Host, Attempts: 1, Succeeded: 0, LastAttempt: epoch, Breaker: "open"}}
	if err != nil || !cmp.Equal(hs, want) {
		t.Errorf("Hosts = %+v, %v; want %+v", hs, err, want)
	}
	if hs, _ := h.sender.Hosts(h.ctx, epoch.Add(time.Second)); len(hs) != 0 {
		t.Errorf("Hosts since after the attempt = %+v, want none", hs)
	}
}

// RetryJob of a job held by its paused campaign makes it due now, but the Sender holds it
// again when it claims it, and sends nothing until the campaign is resumed.
func TestRetryJobOfAHeldJobHoldsItAgain(t *testing.T) {
	ctx := t.Context()
	s, clock, url, stop := policySender(webhook.Config{})
	defer stop()
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "sale", URL: url + "/sale", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "buy"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PauseCampaign(ctx, "sale"); err != nil {
		t.Fatal(err)
	}
	if err := s.Trigger(ctx, webhook.Event{UserID: "ann", Name: "buy"}); err != nil {
		t.Fatal(err)
	}
	_ = clock.BlockUntil(ctx, 1) // the Sender is idle
	page, err := s.Jobs(ctx, webhook.JobsQuery{MessageID: "sale"})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].State != webhook.JobHeld {
		t.Fatalf("Jobs of the paused campaign = %+v, %v; want one held job", page.Jobs, err)
	}
	id := page.Jobs[0].ID
	if err := s.RetryJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	_ = clock.BlockUntil(ctx, 1)
	if j, err := s.Job(ctx, id); err != nil || j.State != webhook.JobHeld {
		t.Errorf("after RetryJob of a held job of a paused campaign, the job is %v (%v), want held again", j.State, err)
	}
	if as, _ := s.Attempts(ctx, webhook.AttemptQuery{MessageID: "sale"}); len(as) != 0 {
		t.Errorf("RetryJob of a held job of a paused campaign sent it: %+v", as)
	}
}

// CancelJob reports the job it cancelled to the JobEnded hook, as every other cancel does.
func TestCancelJobCallsJobEnded(t *testing.T) {
	ended := make(chan webhook.JobEnd, 1)
	h := newHarness(t, &webhook.Config{Hooks: webhook.Hooks{JobEnded: func(_ context.Context, e webhook.JobEnd) { ended <- e }}})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	id, err := h.sender.Send(h.ctx, "m", "u1", nil, &webhook.SendOptions{At: epoch.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sender.CancelJob(h.ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ended:
		if e.JobID != id || e.State != webhook.JobCancelled || e.Reason != "cancelled by an operator" || !e.Time.Equal(epoch) {
			t.Errorf("JobEnded got %+v, want %s cancelled by an operator at %v", e, id, epoch)
		}
	case <-h.ctx.Done():
		t.Fatal("JobEnded was not called for the job CancelJob cancelled")
	}
}

// Paging through Sender.Jobs and Sender.AttemptLog two rows at a time returns every row once,
// in the order of one page of them all, and the last page has no cursor. The jobs are
// created, and their attempts made, at the same time, so the order is that of the IDs and
// Seqs, which the cursors must carry.
func TestJobsAndAttemptLogPageWithTheCursor(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	h.sendN(t, "m", 5)
	h.idle(t)
	jobs := func(limit int, cursor string) ([]string, string, error) {
		page, err := h.sender.Jobs(h.ctx, webhook.JobsQuery{MessageID: "m", Limit: limit, Cursor: cursor})
		var ids []string
		for _, j := range page.Jobs {
			ids = append(ids, j.ID)
		}
		return ids, page.Next, err
	}
	attempts := func(limit int, cursor string) ([]string, string, error) {
		page, err := h.sender.AttemptLog(h.ctx, webhook.AttemptLogQuery{MessageID: "m", Limit: limit, Cursor: cursor})
		var seqs []string
		for _, a := range page.Attempts {
			seqs = append(seqs, fmt.Sprint(a.Seq))
		}
		return seqs, page.Next, err
	}
	for name, list := range map[string]func(int, string) ([]string, string, error){"jobs": jobs, "attempts": attempts} {
		want, next, err := list(0, "")
		if err != nil || len(want) != 5 || next != "" {
			t.Fatalf("%s = %q, next %q, %v; want 5 and no next page", name, want, next, err)
		}
		var got []string
		pages := 0
		for cursor := ""; pages == 0 || cursor != ""; pages++ {
			var rows []string
			if rows, cursor, err = list(2, cursor); err != nil {
				t.Fatal(err)
			}
			got = append(got, rows...)
		}
		if !cmp.Equal(got, want) || pages != 3 {
			t.Errorf("%s paged two at a time = %q in %d pages, want %q in 3", name, got, pages, want)
		}
	}
}

// JobStates lists every state in the order of a job's life, each Valid, and a caller's
// change to the list changes nothing else.
func TestJobStates(t *testing.T) {
	want := []webhook.JobState{webhook.JobScheduled, webhook.JobRunning, webhook.JobHeld,
		webhook.JobSucceeded, webhook.JobFailed, webhook.JobSkipped, webhook.JobCancelled}
	got := webhook.JobStates()
	if !slices.Equal(got, want) {
		t.Fatalf("JobStates() = %v, want %v", got, want)
	}
	for _, st := range got {
		if !st.Valid() {
			t.Errorf("%q is not Valid", st)
		}
	}
	got[0] = "bogus"
	if webhook.JobState("bogus").Valid() || !webhook.JobScheduled.Valid() || webhook.JobStates()[0] != webhook.JobScheduled {
		t.Error("changing the list JobStates returned changed what states are valid")
	}
}
