package webhook_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/webhooktest"
)

// abTest returns a message Triggered by "e" with variants A and B, which send their ID in
// the header X-Variant and in the data, and the weights given.
func abTest(url string, a, b, control, rest int) *webhook.Message {
	return &webhook.Message{
		ID:   "ab",
		URL:  url + "/base",
		Data: []webhook.Field{{Key: "variant", Value: "{{ variant }}"}, {Key: "user", Value: "{{ user.id }}"}},
		Variants: []webhook.Variant{
			{ID: "A", Weight: a, Headers: []webhook.Field{{Key: "X-Variant", Value: "A"}}},
			{ID: "B", Weight: b, URL: url + "/b/{{ user.id }}", Headers: []webhook.Field{{Key: "X-Variant", Value: "B"}}},
		},
		ControlWeight: control,
		RestWeight:    rest,
		Delivery:      webhook.Delivery{Kind: webhook.Triggered, Event: "e"},
	}
}

// jobVariants returns the variant of the jobs of message id, by user.
func jobVariants(tb testing.TB, store webhook.JobStore, id string) map[string]string {
	tb.Helper()
	js, err := store.Jobs(tb.Context(), webhook.JobQuery{JobFilter: webhook.JobFilter{MessageID: id}})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range js {
		if v, ok := out[j.UserID]; ok && v != j.Variant {
			tb.Errorf("user %s has jobs of variants %q and %q", j.UserID, v, j.Variant)
		}
		out[j.UserID] = j.Variant
	}
	return out
}

// triggerAll reports event "e" for users u0 to u(n-1), in batches.
func triggerAll(tb testing.TB, s *webhook.Sender, n int) {
	tb.Helper()
	const batch = 1000
	for start := 0; start < n; start += batch {
		events := make([]webhook.Event, 0, batch)
		for i := start; i < min(n, start+batch); i++ {
			events = append(events, webhook.Event{UserID: fmt.Sprintf("u%d", i), Name: "e"})
		}
		if err := s.TriggerMany(tb.Context(), events); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestVariantSplitIsWithinOnePercentOfTheWeights(t *testing.T) {
	const users = 100_000
	store := memstore.New()
	s, _ := webhooktest.NewSender(t, store, nil) // not started: the jobs wait
	if err := s.SaveMessage(t.Context(), abTest("https://example.com", 50, 20, 10, 20)); err != nil {
		t.Fatal(err)
	}
	triggerAll(t, s, users)
	counts := map[string]int{}
	for _, v := range jobVariants(t, store, "ab") {
		counts[v]++
	}
	for _, tt := range []struct {
		variant string
		share   float64
	}{{"A", 0.5}, {"B", 0.2}, {webhook.ControlGroup, 0.1}} {
		if got := float64(counts[tt.variant]) / users; math.Abs(got-tt.share) > 0.01 {
			t.Errorf("variant %q got %.4f of %d users, want %.2f ± 0.01", tt.variant, got, users, tt.share)
		}
	}
	waiting := users - counts["A"] - counts["B"] - counts[webhook.ControlGroup]
	if got := float64(waiting) / users; math.Abs(got-0.2) > 0.01 {
		t.Errorf("%.4f of the users got no job, waiting for the winner; want 0.20 ± 0.01", got)
	}
	if counts[""] != 0 {
		t.Errorf("%d jobs have no variant", counts[""])
	}
}

func TestVariantsAreStickyAcrossSendersAndWeightChanges(t *testing.T) {
	const users = 2000
	store := memstore.New()
	first, _ := webhooktest.NewSender(t, store, nil)
	second, _ := webhooktest.NewSender(t, store, nil)
	if err := first.SaveMessage(t.Context(), abTest("https://example.com", 1, 1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	triggerAll(t, first, users/2)
	triggerAll(t, second, users) // the first half again, and the second half
	before := jobVariants(t, store, "ab")
	if len(before) != users {
		t.Fatalf("%d users have jobs, want %d", len(before), users)
	}

	// Nearly everyone to B now: users assigned keep their variant; only new users follow the
	// new weights. (The first Sender would see the new version within its PollInterval.)
	if err := second.SaveMessage(t.Context(), abTest("https://example.com", 1, 1000, 1, 0)); err != nil {
		t.Fatal(err)
	}
	triggerAll(t, second, users+500)
	after := jobVariants(t, store, "ab")
	newB := 0
	for user, v := range after {
		if old, ok := before[user]; ok && old != v {
			t.Errorf("user %s moved from variant %q to %q", user, old, v)
		}
		if _, ok := before[user]; !ok && v == "B" {
			newB++
		}
	}
	if newB < 490 {
		t.Errorf("%d of the 500 new users got B, want nearly all: new users follow the new weights", newB)
	}
}

func TestVariantsSendTheirFieldsAndTheControlGroupNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.save(t, abTest(h.recv.URL, 1, 1, 1, 0))
	triggerAll(t, h.sender, 60)
	h.idle(t)
	sent := map[string]string{} // user → variant, as received
	for _, r := range h.recv.Requests() {
		var user string
		switch v := r.Header.Get("X-Variant"); v {
		case "A":
			user = strings.TrimPrefix(string(r.Body), `{"variant":"A","user":"`)
			if r.URI != "/base" {
				t.Errorf("variant A went to %s, want the message's URL /base", r.URI)
			}
		case "B":
			user = strings.TrimPrefix(string(r.Body), `{"variant":"B","user":"`)
			if want := "/b/" + strings.TrimSuffix(user, `"}`); r.URI != want {
				t.Errorf("variant B went to %s, want its own URL %s", r.URI, want)
			}
		default:
			t.Errorf("a request with X-Variant %q and body %s", v, r.Body)
		}
		sent[strings.TrimSuffix(user, `"}`)] = r.Header.Get("X-Variant")
	}
	assigned := jobVariants(t, h.store, "ab")
	for user, v := range assigned {
		as := h.attempts(t, webhook.AttemptQuery{UserID: user})
		if len(as) != 1 || as[0].Variant != v {
			t.Errorf("attempts of user %s = %+v, want one of variant %q", user, as, v)
			continue
		}
		if v == webhook.ControlGroup {
			if _, got := sent[user]; got || as[0].Outcome != webhook.Skipped || !strings.Contains(as[0].Err, "control group") {
				t.Errorf("user %s of the control group: sent %v, attempt %s %q; want nothing sent and a Skipped attempt saying why", user, got, as[0].Outcome, as[0].Err)
			}
			continue
		}
		if sent[user] != v {
			t.Errorf("user %s of variant %s received variant %q", user, v, sent[user])
		}
	}
	control := h.attempts(t, webhook.AttemptQuery{MessageID: "ab", Variant: webhook.ControlGroup})
	if len(control) == 0 || len(control) == len(assigned) {
		t.Errorf("%d of %d attempts are the control group's, want some, not all", len(control), len(assigned))
	}
}

func TestSendWinnerSendsTheRestTheWinner(t *testing.T) {
	h := newHarness(t, nil)
	m := abTest(h.recv.URL, 1, 1, 1, 2)
	m.Delivery = webhook.Delivery{Kind: webhook.Immediate}
	h.save(t, m)
	for i := range 200 {
		if err := h.sender.Identify(h.ctx, webhook.User{ID: fmt.Sprintf("u%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.sender.StartCampaign(h.ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	test := jobVariants(t, h.store, "ab")
	if len(test) < 60 || len(test) > 140 {
		t.Fatalf("the test run enqueued %d jobs for 200 users with 3/5 of the weight, want about 120", len(test))
	}
	received := len(h.recv.Requests())

	if err := h.sender.SendWinner(h.ctx, "ab", "C"); err == nil {
		t.Error("SendWinner of a variant the message does not have succeeded")
	}
	if err := h.sender.SendWinner(h.ctx, "ab", "B"); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	all := jobVariants(t, h.store, "ab")
	if len(all) != 200 {
		t.Errorf("after SendWinner %d users have a job, want all 200", len(all))
	}
	for user, v := range all {
		if old, ok := test[user]; ok && old != v {
			t.Errorf("user %s of the test moved from %q to %q", user, old, v)
		} else if !ok && v != "B" {
			t.Errorf("user %s of the rest got %q, want the winner B", user, v)
		}
	}
	rest := 200 - len(test)
	if got := len(h.recv.Requests()) - received; got != rest {
		t.Errorf("SendWinner sent %d requests, want one to each of the %d users of the rest", got, rest)
	}
	saved, err := h.sender.Message(h.ctx, "ab", 0)
	if err != nil || saved.Winner != "B" {
		t.Errorf("the message after SendWinner = %+v, %v, want its Winner B", saved, err)
	}
}

func TestSendOfAUserWhoWaitsForTheWinner(t *testing.T) {
	h := newHarness(t, nil)
	m := abTest(h.recv.URL, 1, 1, 0, 1_000_000) // nearly everyone waits
	h.save(t, m)
	_, err := h.sender.Send(h.ctx, "ab", "u1", nil, nil)
	if !errors.Is(err, webhook.ErrWaiting) {
		t.Errorf("Send to a user who waits for the winner = %v, want ErrWaiting", err)
	}
}

func TestVariantValidation(t *testing.T) {
	many := make([]webhook.Variant, 17)
	for i := range many {
		many[i] = webhook.Variant{ID: fmt.Sprintf("v%d", i), Weight: 1}
	}
	for _, tt := range []struct {
		name string
		m    webhook.Message
		want []string
	}{
		{"bad variants", webhook.Message{Variants: []webhook.Variant{
			{ID: "control", Weight: 1}, {ID: "a b", Weight: 0}, {ID: "A", Weight: 1, URL: "ftp://x", Headers: []webhook.Field{{Key: "Host", Value: "x"}}},
			{ID: "A", Weight: 1, Data: []webhook.Field{{Key: "k", Value: "{{ x | uper }}"}, {Key: "k", Value: "1"}}},
		}, Winner: "Z", ControlWeight: -1}, []string{
			`variants[0].id: "control" names the control group: give ControlWeight instead`,
			"variants[1].id: must be 1 to 64 letters, digits, '-', '_' or '.'",
			"variants[1].weight: must be from 1 to 1000000, got 0",
			`variants[2].url: scheme "ftp" is not http or https`,
			"variants[2].headers[0].key: Host is set by the Sender and cannot be given",
			`variants[3].id: "A" is the ID of an earlier variant`,
			"variants[3].data[0].value: line 1 col 8: unknown filter 'uper'",
			`variants[3].data[1].key: "k" is already the key of variants[3].data[0]; a JSON object cannot repeat a key`,
			"control_weight: must be from 0 to 1000000, got -1",
			`winner: "Z" is not the ID of a variant`,
		}},
		{"too many", webhook.Message{Variants: many}, []string{"variants: more than 16 variants"}},
		{"weights without variants", webhook.Message{ControlWeight: 1, RestWeight: 2}, []string{
			"control_weight: needs variants", "rest_weight: needs variants",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.ID, tt.m.URL = "m", "https://example.com"
			if diff := cmp.Diff(tt.want, problems(tt.m.Validate())); diff != "" {
				t.Errorf("Validate problems (-want +got):\n%s", diff)
			}
		})
	}
}

// problems returns the problems of a *ValidationError, as "path: message".
func problems(err error) []string {
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) {
		return []string{fmt.Sprint(err)}
	}
	var out []string
	for _, p := range ve.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestVariantsNeedAVariantStore(t *testing.T) {
	s, _ := webhooktest.NewSender(t, plainStore{memstore.New()}, nil)
	err := s.SaveMessage(t.Context(), abTest("https://example.com", 1, 1, 0, 0))
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "webhook.VariantStore") {
		t.Errorf("SaveMessage with variants on a Store without VariantStore = %v, want an error wrapping errors.ErrUnsupported naming the role", err)
	}
}

// plainStore is a Store with none of the optional roles.
type plainStore struct{ webhook.Store }
