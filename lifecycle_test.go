package webhook_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// jobStates returns the state of each job of a message, by user ID.
func (h *harness) jobStates(tb testing.TB, messageID string) map[string]webhook.JobState {
	tb.Helper()
	jobs, err := h.store.Jobs(h.ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: messageID}})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]webhook.JobState{}
	for _, j := range jobs {
		out[j.UserID] = j.State
	}
	return out
}

// A Triggered message is a campaign of its own: pausing holds its waiting jobs and the jobs
// of events that come meanwhile, resuming sends those that came due, cancelling drops what
// waits and what comes, and starting it again takes events once more.
func TestTriggeredMessageCampaign(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "welcome", URL: h.recv.URL + "/{{ user.id }}",
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "signup", Delay: time.Hour}})
	h.trigger(t, webhook.Event{UserID: "a", Name: "signup"})
	if err := h.sender.PauseCampaign(h.ctx, "welcome"); err != nil {
		t.Fatalf("PauseCampaign(triggered) = %v", err)
	}
	h.trigger(t, webhook.Event{UserID: "b", Name: "signup"})
	want := map[string]webhook.JobState{"a": webhook.JobHeld, "b": webhook.JobHeld}
	if diff := cmp.Diff(want, h.jobStates(t, "welcome")); diff != "" {
		t.Errorf("jobs while paused (-want +got):\n%s", diff)
	}
	h.advance(t, 2*time.Hour)
	if n := len(h.recv.Requests()); n != 0 {
		t.Fatalf("%d requests while paused, want none", n)
	}
	if err := h.sender.ResumeCampaign(h.ctx, "welcome"); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	if n := len(h.recv.Requests()); n != 2 {
		t.Fatalf("%d requests after resuming, want the 2 held jobs, whose time came", n)
	}

	h.trigger(t, webhook.Event{UserID: "c", Name: "signup"})
	if err := h.sender.CancelCampaign(h.ctx, "welcome"); err != nil {
		t.Fatal(err)
	}
	h.trigger(t, webhook.Event{UserID: "d", Name: "signup"})
	want = map[string]webhook.JobState{"a": webhook.JobSucceeded, "b": webhook.JobSucceeded, "c": webhook.JobCancelled}
	if diff := cmp.Diff(want, h.jobStates(t, "welcome")); diff != "" {
		t.Errorf("jobs after cancelling (-want +got):\n%s", diff)
	}
	if err := h.sender.ResumeCampaign(h.ctx, "welcome"); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("ResumeCampaign(cancelled) = %v, want ErrInvalid", err)
	}
	if err := h.sender.StartCampaign(h.ctx, "welcome"); err != nil {
		t.Fatalf("StartCampaign(cancelled triggered) = %v", err)
	}
	h.trigger(t, webhook.Event{UserID: "e", Name: "signup"})
	if got := h.jobStates(t, "welcome")["e"]; got != webhook.JobScheduled {
		t.Errorf("a job after starting again is %q, want scheduled", got)
	}
}

// With DropWhilePaused, events that come while a Triggered message is paused enqueue
// nothing; the jobs waiting are held as usual.
func TestDropWhilePaused(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL,
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e", Delay: time.Hour, DropWhilePaused: true}})
	h.trigger(t, webhook.Event{UserID: "a", Name: "e"})
	if err := h.sender.PauseCampaign(h.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	h.trigger(t, webhook.Event{UserID: "b", Name: "e"})
	want := map[string]webhook.JobState{"a": webhook.JobHeld}
	if diff := cmp.Diff(want, h.jobStates(t, "m")); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	err := webhook.Delivery{Kind: webhook.Manual, DropWhilePaused: true}
	m := &webhook.Message{ID: "x", URL: "https://example.com", Delivery: err}
	if got := m.Validate(); !errors.Is(got, webhook.ErrInvalid) {
		t.Errorf("Validate(manual with drop_while_paused) = %v, want ErrInvalid", got)
	}
}

// Saving a message the same as its current version keeps the version, as an app that saves
// its messages at every start needs; a change adds one.
func TestSaveUnchangedMessageKeepsItsVersion(t *testing.T) {
	h := newHarness(t, nil)
	for range 3 {
		m := &webhook.Message{ID: "m", URL: "https://example.com/hook", Method: "post"}
		h.save(t, m)
		if m.Version != 1 {
			t.Fatalf("saving an unchanged message gave version %d, want 1", m.Version)
		}
	}
	m := &webhook.Message{ID: "m", URL: "https://example.com/other"}
	h.save(t, m)
	if m.Version != 2 {
		t.Errorf("saving a changed message gave version %d, want 2", m.Version)
	}
}

// Messages can be read, listed, disabled and deleted.
func TestMessageLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	for _, id := range []string{"a", "b", "c"} {
		h.save(t, &webhook.Message{ID: id, URL: h.recv.URL + "/" + id, Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e", Delay: time.Hour}})
	}
	page, err := h.sender.Messages(h.ctx, "a", 1)
	if err != nil || len(page) != 1 || page[0].ID != "b" {
		t.Fatalf("Messages(after a, 1) = %v, %v; want b", page, err)
	}
	if m, err := h.sender.Message(h.ctx, "c", 0); err != nil || m.URL != h.recv.URL+"/c" {
		t.Fatalf("Message(c) = %+v, %v", m, err)
	}
	if _, err := h.sender.Message(h.ctx, "nope", 0); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Message(nope) = %v, want ErrNotFound", err)
	}

	// A disabled message enqueues nothing new.
	h.save(t, &webhook.Message{ID: "b", URL: h.recv.URL + "/b", Disabled: true, Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e", Delay: time.Hour}})
	h.trigger(t, webhook.Event{UserID: "u1", Name: "e"})
	if _, err := h.sender.Send(h.ctx, "b", "u1", nil, nil); !errors.Is(err, webhook.ErrInvalid) {
		t.Errorf("Send(disabled) = %v, want ErrInvalid", err)
	}
	if got := h.jobStates(t, "b"); len(got) != 0 {
		t.Errorf("a disabled message has jobs %v, want none", got)
	}

	// Deleting a message cancels what waits, and it is gone from lists and triggers.
	if err := h.sender.DeleteMessage(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := h.jobStates(t, "a"); got["u1"] != webhook.JobCancelled {
		t.Errorf("the deleted message's job is %q, want cancelled", got["u1"])
	}
	as := h.attempts(t, webhook.AttemptQuery{MessageID: "a"})
	if len(as) != 1 || as[0].Outcome != webhook.Cancelled || as[0].Err != "message deleted" {
		t.Errorf("attempts of the deleted message = %+v, want one cancelled: message deleted", as)
	}
	h.trigger(t, webhook.Event{UserID: "u2", Name: "e"})
	if got := h.jobStates(t, "a"); len(got) != 1 {
		t.Errorf("the deleted message was triggered: %v", got)
	}
	all, err := h.sender.Messages(h.ctx, "", 10)
	if err != nil || len(all) != 2 || all[0].ID != "b" || all[1].ID != "c" {
		t.Errorf("Messages after deleting a = %v, %v; want b and c", all, err)
	}
	if m, err := h.sender.Message(h.ctx, "a", 1); err != nil || m.Version != 1 {
		t.Errorf("Message(a, 1) after deleting = %v, %v; want version 1, still readable", m, err)
	}
	if err := h.sender.DeleteMessage(h.ctx, "nope"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("DeleteMessage(nope) = %v, want ErrNotFound", err)
	}
}

// Send with a key is idempotent, and with At it is due then.
func TestSendOptions(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL})
	first, err := h.sender.Send(h.ctx, "m", "u1", nil, &webhook.SendOptions{Key: "order-42"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.sender.Send(h.ctx, "m", "u1", nil, &webhook.SendOptions{Key: "order-42"})
	if err != nil || again != first {
		t.Errorf("a second Send with the key = %q, %v; want the first job %q", again, err, first)
	}
	other, err := h.sender.Send(h.ctx, "m", "u2", nil, &webhook.SendOptions{Key: "order-42"})
	if err != nil || other == first {
		t.Errorf("Send with the key to another user = %q, %v; want a job of its own", other, err)
	}
	h.idle(t)
	if n := len(h.recv.Requests()); n != 2 {
		t.Errorf("the receiver got %d requests, want 2", n)
	}
	later, err := h.sender.Send(h.ctx, "m", "u3", nil, &webhook.SendOptions{At: epoch.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	if n := len(h.recv.Requests()); n != 2 {
		t.Errorf("a job due in an hour was sent at once")
	}
	h.advance(t, time.Hour)
	if j, err := getJob(h.ctx, h.store, later); err != nil || j.State != webhook.JobSucceeded {
		t.Errorf("the job due in an hour is %+v, %v; want succeeded once the hour passed", j, err)
	}
}

// A pause made by another Sender sharing the Store reaches this one within PollInterval: a job
// it enqueued meanwhile, not knowing of the pause, is held when it comes due, not sent, and
// goes when the campaign is resumed.
func TestPauseByAnotherSenderHoldsJobs(t *testing.T) {
	h := newHarness(t, &webhook.Config{PollInterval: time.Minute})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL,
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e", Delay: time.Hour}})
	h.trigger(t, webhook.Event{UserID: "warm", Name: "e"}) // the harness's Sender reads its catalog
	other, _ := webhooktest.NewSender(t, h.store, &webhook.Config{Clock: h.clock})
	if err := other.PauseCampaign(h.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	h.trigger(t, webhook.Event{UserID: "late", Name: "e"})
	if got := h.jobStates(t, "m")["late"]; got != webhook.JobScheduled {
		t.Fatalf("the job of an event the harness's Sender took before it saw the pause is %q, want scheduled", got)
	}
	h.advance(t, 2*time.Hour)
	if n := len(h.recv.Requests()); n != 0 {
		t.Fatalf("%d requests while the campaign was paused, want none", n)
	}
	want := map[string]webhook.JobState{"warm": webhook.JobHeld, "late": webhook.JobHeld}
	if diff := cmp.Diff(want, h.jobStates(t, "m")); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if err := other.ResumeCampaign(h.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	h.advance(t, time.Minute) // the harness's Sender polls
	if n := len(h.recv.Requests()); n != 2 {
		t.Errorf("%d requests after resuming, want 2", n)
	}
}

// updateCounter is a memstore that counts its UpdateJobs calls.
type updateCounter struct {
	*memstore.Store
	n atomic.Int64
}

func (s *updateCounter) UpdateJobs(ctx context.Context, p webhook.UpdateJobsParams) ([]*webhook.Job, error) {
	s.n.Add(1)
	return s.Store.UpdateJobs(ctx, p)
}

// Trigger looks for jobs to cancel only when some message's Delivery.Unless names its event.
func TestTriggerCancelsOnlyForUnlessEvents(t *testing.T) {
	store := &updateCounter{Store: memstore.New()}
	s, _ := webhooktest.NewSender(t, store, nil)
	if err := s.SaveMessage(t.Context(), &webhook.Message{ID: "m", URL: "https://example.com",
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "cart", Delay: time.Hour, Unless: "purchase"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cart", "view", "purchase"} {
		if err := s.Trigger(t.Context(), webhook.Event{UserID: "u", Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.n.Load(); n != 1 {
		t.Errorf("UpdateJobs called %d times for cart, view and purchase, want once, for purchase", n)
	}
}

// Send of a deleted message is refused with ErrNotFound, as for a message never saved,
// whether this Sender deleted it or another one did, whose deletion it sees once its catalog
// is read again; a message another Sender saves after this one read its catalog is sent at
// once.
func TestSendOfADeletedMessage(t *testing.T) {
	h := newHarness(t, &webhook.Config{PollInterval: time.Minute})
	h.save(t, &webhook.Message{ID: "a", URL: h.recv.URL})
	h.save(t, &webhook.Message{ID: "b", URL: h.recv.URL})
	if err := h.sender.DeleteMessage(h.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sender.Send(h.ctx, "a", "u1", nil, nil); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Send of a message this Sender deleted = %v, want ErrNotFound", err)
	}
	if _, err := h.sender.InTx(h.store).Send(h.ctx, "a", "u1", nil, nil); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Send in a transaction of a message this Sender deleted = %v, want ErrNotFound", err)
	}
	other, _ := webhooktest.NewSender(t, h.store, &webhook.Config{Clock: h.clock, PollInterval: time.Minute})
	if _, err := other.Send(h.ctx, "b", "u1", nil, nil); err != nil { // other reads its catalog
		t.Fatal(err)
	}
	if err := h.sender.DeleteMessage(h.ctx, "b"); err != nil {
		t.Fatal(err)
	}
	h.save(t, &webhook.Message{ID: "c", URL: h.recv.URL})
	if _, err := other.Send(h.ctx, "c", "u1", nil, nil); err != nil {
		t.Errorf("Send of a message another Sender saved = %v, want a job", err)
	}
	if _, err := other.Send(h.ctx, "b", "u2", nil, nil); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("Send of a message another Sender deleted, once the catalog was read again = %v, want ErrNotFound", err)
	}
	if got := h.jobStates(t, "a"); len(got) != 0 {
		t.Errorf("the deleted message has jobs %v, want none", got)
	}
}

// Sends of a deleted message read the catalog again once, not each time: a burst of them does
// not make every Send and Trigger wait for catalog reads.
func TestSendsOfADeletedMessageReadTheCatalogOnce(t *testing.T) {
	ctx := t.Context()
	store := &storeReads{Store: memstore.New()}
	s, _ := webhooktest.NewSender(t, store, &webhook.Config{Clock: webhooktest.NewFakeClock(epoch), Logger: slog.New(slog.DiscardHandler)})
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: "https://example.com/m"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMessage(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	before := store.reads("Catalog")
	for range 5 {
		if _, err := s.Send(ctx, "m", "u", nil, nil); !errors.Is(err, webhook.ErrNotFound) {
			t.Fatalf("Send of a deleted message = %v, want ErrNotFound", err)
		}
	}
	if n := store.reads("Catalog") - before; n != 2 {
		t.Errorf("5 Sends of a deleted message read the catalog %d times, want 2 (once as it was stale, once to tell the message deleted)", n)
	}
}
