package webhook_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// systemPayload is the body of a system webhook.
type systemPayload struct {
	Type      webhook.NoticeType `json:"type"`
	Timestamp time.Time          `json:"timestamp"`
	Data      map[string]any     `json:"data"`
}

// TestSystemWebhooks checks that the attempt and the end of a job are forwarded to the system
// endpoint as signed Standard Webhooks, through the job queue: the first gets a 503, which
// opens the endpoint's breaker, and is retried with the same webhook-id after a minute. The
// system webhooks' own attempts and the breaker they opened reach the hooks but are not
// forwarded: a system webhook never produces another.
func TestSystemWebhooks(t *testing.T) {
	sys := webhooktest.NewReceiver(t)
	sys.Reply(http.StatusServiceUnavailable)
	secret := webhook.NewSecret()
	var log noticeLog
	h := newHarness(t, &webhook.Config{
		Workers: 1, BreakerThreshold: 1, Hooks: log.hooks(),
		SystemWebhook: &webhook.SystemWebhook{URL: sys.URL + "/ops", Secrets: []string{secret}},
	})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	id := h.sendN(t, "m", 1)[0]
	if _, err := sys.Wait(h.ctx, 1); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	h.advance(t, time.Minute)
	reqs, err := sys.Wait(h.ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sender.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(sys.Requests()); n != 3 {
		t.Errorf("the system endpoint got %d requests, want 3: two notices, one retried", n)
	}

	var types []string
	ids := map[string][]int{} // webhook-id → statuses
	for _, r := range reqs {
		if r.Method != http.MethodPost || r.URI != "/ops" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("system webhook %s %s (%s), want a JSON POST to /ops", r.Method, r.URI, r.Header.Get("Content-Type"))
		}
		if err := webhook.Verify([]string{secret}, r.Header, r.Body, h.clock.Now(), 0); err != nil {
			t.Errorf("system webhook %s: %v", r.Body, err)
		}
		var p systemPayload
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("system webhook %s: %v", r.Body, err)
		}
		if p.Data["job_id"] != id || p.Data["message_id"] != "m" || !p.Timestamp.Equal(epoch) {
			t.Errorf("system webhook %s, want one about job %s at %v", r.Body, id, epoch)
		}
		if p.Type == webhook.NoticeJobEnded && p.Data["state"] != "succeeded" {
			t.Errorf("job.ended of state %v, want succeeded", p.Data["state"])
		}
		ids[r.Header.Get("Webhook-Id")] = append(ids[r.Header.Get("Webhook-Id")], r.Status)
		if r.Status == http.StatusOK {
			types = append(types, string(p.Type))
		}
	}
	slices.Sort(types)
	if diff := cmp.Diff([]string{"attempt.finished", "job.ended"}, types); diff != "" {
		t.Errorf("system webhooks delivered (-want +got):\n%s", diff)
	}
	retried := 0
	for _, statuses := range ids {
		if cmp.Equal(statuses, []int{503, 200}) {
			retried++
		}
	}
	if retried != 1 || len(ids) != 2 {
		t.Errorf("statuses by webhook-id = %v, want two webhooks, one of them retried after a 503", ids)
	}

	as := h.attempts(t, webhook.AttemptQuery{MessageID: webhook.SystemMessageID})
	if len(as) != 3 || as[0].UserID != "" {
		t.Errorf("the attempt log has %d system webhook attempts (%+v), want 3, with no user", len(as), as)
	}
	calls := strings.Join(log.get(), "\n")
	for _, want := range []string{
		`attempt hookline.system #1 retrying 503`,
		`breaker 127.0.0.1 opened until 1m0s at 0s`,
		`job hookline.system to  succeeded after 2`,
	} {
		if !strings.Contains(calls, want) {
			t.Errorf("the hooks were not called with %q; they got:\n%s", want, calls)
		}
	}
}

// TestSystemWebhookTypes checks that SystemWebhook.Types selects the notices forwarded.
func TestSystemWebhookTypes(t *testing.T) {
	sys := webhooktest.NewReceiver(t)
	h := newHarness(t, &webhook.Config{SystemWebhook: &webhook.SystemWebhook{
		URL: sys.URL, Secrets: []string{webhook.NewSecret()}, Types: []webhook.NoticeType{webhook.NoticeJobEnded},
	}})
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook"})
	h.sendN(t, "m", 2)
	if _, err := sys.Wait(h.ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := h.sender.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range sys.Requests() {
		var p systemPayload
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Type != webhook.NoticeJobEnded {
			t.Errorf("system webhook %s (%v), want only job.ended", r.Body, err)
		}
	}
	if n := len(sys.Requests()); n != 2 {
		t.Errorf("the system endpoint got %d requests, want 2", n)
	}
}

// TestObservabilityConfigIsChecked checks the problems NewSender finds in Hooks and
// SystemWebhook, each named by its field.
func TestObservabilityConfigIsChecked(t *testing.T) {
	_, err := webhook.NewSender(memstore.New(), &webhook.Config{
		Hooks:         webhook.Hooks{QueueSize: -1},
		SystemWebhook: &webhook.SystemWebhook{URL: "ftp://ops.example.com", Secrets: []string{"plain"}, Types: []webhook.NoticeType{"job.started"}},
	})
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("NewSender = %v, want a *ValidationError", err)
	}
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	want := []string{"Hooks.QueueSize", "SystemWebhook.URL", "SystemWebhook.Secrets[0]", "SystemWebhook.Types[0]"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
	_, err = webhook.NewSender(memstore.New(), &webhook.Config{SystemWebhook: &webhook.SystemWebhook{URL: "https://ops.example.com/hooks"}})
	if err == nil || !strings.Contains(err.Error(), "SystemWebhook.Secrets") {
		t.Errorf("NewSender with an unsigned system webhook = %v, want an error naming SystemWebhook.Secrets", err)
	}
}
