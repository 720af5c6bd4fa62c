package webhook_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

// The Standard Webhooks specification's published test vector.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var vectorTime = time.Unix(1614265330, 0)

func vectorHeader(sig string) http.Header {
	return http.Header{"Webhook-Id": {vectorID}, "Webhook-Timestamp": {"1614265330"}, "Webhook-Signature": {sig}}
}

func TestSignPublishedVector(t *testing.T) {
	got, err := webhook.Sign([]string{vectorSecret}, vectorID, vectorTime, []byte(vectorBody))
	if err != nil || got != vectorSig {
		t.Fatalf("Sign(vector) = %q, %v; want %q", got, err, vectorSig)
	}
	if err := webhook.Verify([]string{vectorSecret}, vectorHeader(vectorSig), []byte(vectorBody), vectorTime.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify(vector) = %v", err)
	}
}

func TestVerify(t *testing.T) {
	oldSecret, newSecret, other := webhook.NewSecret(), webhook.NewSecret(), webhook.NewSecret()
	body := []byte(`{"a":1}`)
	sig, err := webhook.Sign([]string{oldSecret, newSecret}, "dlv_1", vectorTime, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("Sign with two secrets = %q, want two signatures", sig)
	}
	h := http.Header{"Webhook-Id": {"dlv_1"}, "Webhook-Timestamp": {strconv.FormatInt(vectorTime.Unix(), 10)}, "Webhook-Signature": {sig}}
	for _, tt := range []struct {
		name    string
		secrets []string
		header  http.Header
		body    string
		now     time.Time
		want    string // "" for success
	}{
		{"old secret", []string{oldSecret}, h, string(body), vectorTime, ""},
		{"new secret", []string{newSecret}, h, string(body), vectorTime, ""},
		{"rotation on the receiver", []string{other, newSecret}, h, string(body), vectorTime, ""},
		{"unknown secret", []string{other}, h, string(body), vectorTime, "no v1 signature matches"},
		{"tampered body", []string{newSecret}, h, `{"a":2}`, vectorTime, "no v1 signature matches"},
		{"stale timestamp", []string{newSecret}, h, string(body), vectorTime.Add(5*time.Minute + time.Second), "more than 5m0s from now"},
		{"timestamp from the future", []string{newSecret}, h, string(body), vectorTime.Add(-6 * time.Minute), "more than 5m0s from now"},
		{"edge of tolerance", []string{newSecret}, h, string(body), vectorTime.Add(5 * time.Minute), ""},
		{"other id", []string{newSecret}, http.Header{"Webhook-Id": {"dlv_2"}, "Webhook-Timestamp": h["Webhook-Timestamp"], "Webhook-Signature": {sig}}, string(body), vectorTime, "no v1 signature matches"},
		{"missing signature", []string{newSecret}, http.Header{"Webhook-Id": {"dlv_1"}, "Webhook-Timestamp": h["Webhook-Timestamp"]}, string(body), vectorTime, "missing"},
		{"bad timestamp", []string{newSecret}, http.Header{"Webhook-Id": {"dlv_1"}, "Webhook-Timestamp": {"soon"}, "Webhook-Signature": {sig}}, string(body), vectorTime, "not a number"},
		{"other version", []string{vectorSecret}, vectorHeader(strings.Replace(vectorSig, "v1,", "v2,", 1)), vectorBody, vectorTime, "no v1 signature matches"},
		{"invalid secrets only", []string{"whsec_short", "nope"}, h, string(body), vectorTime, "no valid secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secrets, tt.header, []byte(tt.body), tt.now, 0)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Verify() = %v, want nil", err)
			case tt.want != "" && (!errors.Is(err, webhook.ErrInvalidSignature) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Verify() = %v, want ErrInvalidSignature saying %q", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), newSecret[6:]) || strings.Contains(err.Error(), sig[3:])) {
				t.Errorf("Verify() error quotes a secret or signature: %v", err)
			}
		})
	}
}

func TestSaveMessageValidatesSecrets(t *testing.T) {
	h := newHarness(t, nil)
	secret := "whsec_" + strings.Repeat("A", 8) // 6 bytes: too short
	long := "whsec_" + strings.Repeat("A", 88)  // 66 bytes: too long
	err := h.sender.SaveMessage(h.ctx, &webhook.Message{ID: "m", URL: h.recv.URL, Secrets: []string{webhook.NewSecret(), secret, "hunter2-plain", "whsec_!!!", long}})
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("SaveMessage = %v, want a *ValidationError", err)
	}
	got := fmt.Sprint(ve.Problems)
	for _, want := range []string{"secrets[1]: must decode to 24 to 64 bytes, not 6", `secrets[2]: must start with "whsec_"`, "secrets[3]: must be", "secrets[4]: must decode to 24 to 64 bytes, not 66"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %s do not include %q", got, want)
		}
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "AAAAAAAA") {
		t.Errorf("the error quotes a secret: %v", err)
	}

	many := make([]string, 11)
	for i := range many {
		many[i] = webhook.NewSecret()
	}
	err = h.sender.SaveMessage(h.ctx, &webhook.Message{ID: "m", URL: h.recv.URL, Secrets: many})
	if !errors.As(err, &ve) || fmt.Sprint(ve.Problems) != "[secrets: more than 10 secrets]" {
		t.Errorf("SaveMessage with 11 secrets = %v, want one problem: more than 10 secrets", err)
	}
}

func TestSignedDeliveries(t *testing.T) {
	h := newHarness(t, nil)
	h.recv.Reply(http.StatusInternalServerError)
	secrets := []string{webhook.NewSecret(), webhook.NewSecret()}
	h.save(t, &webhook.Message{ID: "m", URL: h.recv.URL + "/hook", Data: []webhook.Field{{Key: "at", Value: "{{ now }}"}}, Secrets: secrets,
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	if err := h.sender.Trigger(h.ctx, webhook.Event{UserID: "u1", Name: "e"}); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	// The job waiting for its retry keeps its request as rendered: the retry signs it anew.
	first := h.attempts(t, webhook.AttemptQuery{Limit: 1})
	if len(first) != 1 {
		t.Fatalf("got %d attempts, want 1", len(first))
	}
	j, err := getJob(h.ctx, h.store, first[0].JobID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Request == nil || j.Request.Header.Get("Webhook-Id") == "" || j.Request.Header.Get("Webhook-Timestamp") != "" || j.Request.Header.Get("Webhook-Signature") != "" {
		t.Errorf("job waiting for its retry has request %+v, want its rendered request without webhook-timestamp and webhook-signature", j.Request)
	}
	h.clock.Advance(time.Minute)
	h.idle(t)
	reqs := h.recv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		at := epoch.Add(time.Duration(i) * time.Minute)
		if got := r.Header.Get("Webhook-Timestamp"); got != strconv.FormatInt(at.Unix(), 10) {
			t.Errorf("attempt %d: webhook-timestamp = %s, want the attempt's time %d", i+1, got, at.Unix())
		}
		for _, secret := range secrets {
			if err := webhook.Verify([]string{secret}, r.Header, r.Body, at, 0); err != nil {
				t.Errorf("attempt %d: Verify with one of the secrets: %v", i+1, err)
			}
		}
		if err := webhook.Verify(secrets, r.Header, r.Body, at.Add(time.Hour), 0); !errors.Is(err, webhook.ErrInvalidSignature) {
			t.Errorf("attempt %d verified an hour later: %v", i+1, err)
		}
	}
	if string(reqs[0].Body) != string(reqs[1].Body) || reqs[0].Header.Get("Webhook-Signature") == reqs[1].Header.Get("Webhook-Signature") {
		t.Errorf("the retry should resend the same body with a new signature: %s / %s", reqs[0].Header, reqs[1].Header)
	}
	for _, a := range h.attempts(t, webhook.AttemptQuery{}) {
		if got := a.RequestHeader.Get("Webhook-Signature"); got != "REDACTED" {
			t.Errorf("attempt log shows webhook-signature %q, want REDACTED", got)
		}
		if a.RequestHeader.Get("Webhook-Timestamp") != strconv.FormatInt(a.Time.Unix(), 10) {
			t.Errorf("attempt log shows webhook-timestamp %q for an attempt at %v", a.RequestHeader.Get("Webhook-Timestamp"), a.Time)
		}
	}
}
