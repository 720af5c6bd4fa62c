package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var messageRules = []rule{
	{"PutMessageThenMessagesByIDReturnsIt", testMessageRoundTrip},
	{"PutMessageNumbersVersionsFrom1", testMessageVersions},
	{"MessagesByUnknownIDOrVersionIsEmpty", testUnknownMessage},
	{"MessagesByEventAreCurrentTriggeredVersionsInIDOrder", testTriggeredMessages},
	{"MessagesPagesCurrentVersionsByID", testMessagesPaging},
	{"DeleteMessageLeavesItOutOfListsAndTriggersOnly", testDeleteMessage},
	{"PutMessageUndeletesADeletedMessage", testUndeleteMessage},
	{"DeleteMessageOfAnUnknownMessageIsErrNotFound", testDeleteUnknownMessage},
}

// message returns a message with every field set, Triggered by event if it is not empty.
// Its values are in the JSON data model, as the Sender saves them.
func message(id, event string) *webhook.Message {
	m := &webhook.Message{
		ID: id, Name: "Message " + id, Method: "PUT",
		URL:          "https://api:secret@example.com/users/{{ user.id }}?q={{ parameter.q }}",
		ContentType:  webhook.Form,
		Headers:      []webhook.Field{{Key: "X-B", Value: "2"}, {Key: "X-A", Value: "{{ user.email }}"}},
		Data:         []webhook.Field{{Key: "z", Value: "last"}, {Key: "a", Value: "first"}, {Key: "z", Value: "again"}},
		Secrets:      []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_b2xkZXI="},
		MaxPerMinute: 60,
		Audience: webhook.Audience{All: []webhook.Audience{
			{Criterion: webhook.Criterion{Attr: "plan", Op: webhook.OpIn, Value: []any{"pro", "team"}}},
			{Not: &webhook.Audience{Criterion: webhook.Criterion{
				Event: "buy", Agg: webhook.AggSum, Param: "total", Within: webhook.Duration(30 * 24 * time.Hour),
				Where: &webhook.Condition{Key: "currency", Op: webhook.OpEq, Value: "EUR"}, Op: webhook.OpGte, Value: int64(100),
			}}},
		}},
		CheckAudienceOnce: true,
	}
	if event != "" {
		m.Delivery = webhook.Delivery{
			Kind: webhook.Triggered, Event: event, Delay: 5 * time.Minute, Unless: "refund", Once: true,
			Where:      []webhook.Condition{{Key: "total", Op: webhook.OpGt, Value: 9.5}, {Key: "coupon", Op: webhook.OpNotExists}},
			Cap:        webhook.Cap{Max: 2, Per: 24 * time.Hour},
			IgnoreCaps: true, IgnoreQuietHours: true,
		}
	}
	return m
}

// putMessages saves ms.
func putMessages(t *testing.T, s webhook.Store, ms ...*webhook.Message) {
	t.Helper()
	for _, m := range ms {
		must(t, "PutMessage", s.PutMessage(t.Context(), m))
	}
}

// messages returns the messages q selects.
func messages(t *testing.T, s webhook.Store, q webhook.MessageQuery) []*webhook.Message {
	t.Helper()
	ms, err := s.Messages(t.Context(), q)
	must(t, "Messages", err)
	return ms
}

// messageVersions returns the IDs and versions of ms, as "id@version".
func messageVersions(ms []*webhook.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%s@%d", m.ID, m.Version)
	}
	return out
}

// checkMessages fails the rule if the messages q selects are not want, given as "id@version".
func checkMessages(t *testing.T, s webhook.Store, rule string, q webhook.MessageQuery, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, messageVersions(messages(t, s, q)), diffOpts...); diff != "" {
		t.Errorf("%s: Messages(%+v) (-want +got):\n%s", rule, q, diff)
	}
}

func testMessageRoundTrip(t *testing.T, s webhook.Store) {
	m := message("m1", "signup")
	putMessages(t, s, m)
	want := *m
	m.URL = "https://changed.example.com" // the Store keeps what was saved, not the pointer
	for _, version := range []int{0, 1} {
		got := messages(t, s, webhook.MessageQuery{ID: "m1", Version: version})
		if diff := cmp.Diff([]*webhook.Message{&want}, got, diffOpts...); diff != "" {
			t.Errorf("Messages(ID m1, Version %d) differs from the message saved (-saved +returned):\n%s", version, diff)
		}
	}
}

func testMessageVersions(t *testing.T, s webhook.Store) {
	for want := 1; want <= 3; want++ {
		m := message("m1", "")
		m.Name = fmt.Sprintf("v%d", want)
		m.Version = 7 // ignored: the Store numbers versions
		putMessages(t, s, m)
		if m.Version != want {
			t.Errorf("PutMessage number %d set Version %d, want %d", want, m.Version, want)
		}
	}
	putMessages(t, s, message("m2", ""))
	for version, name := range map[int]string{0: "v3", 1: "v1", 2: "v2", 3: "v3"} {
		got := messages(t, s, webhook.MessageQuery{ID: "m1", Version: version})
		wantVersion := version
		if version == 0 {
			wantVersion = 3
		}
		if len(got) != 1 || got[0].Name != name || got[0].Version != wantVersion {
			t.Errorf("Messages(ID m1, Version %d) = %v, want %s version %d: the version asked for, or the current one for 0",
				version, messageVersions(got), name, wantVersion)
		}
	}
	checkMessages(t, s, "a new message is at version 1", webhook.MessageQuery{ID: "m2"}, "m2@1")
}

func testUnknownMessage(t *testing.T, s webhook.Store) {
	putMessages(t, s, message("m1", ""))
	for _, q := range []webhook.MessageQuery{{ID: "nope"}, {ID: "nope", Version: 1}, {ID: "m1", Version: 2}, {ID: "m1", Version: -1}} {
		checkMessages(t, s, "an unknown message or version is no message, and no error", q)
	}
}

func testTriggeredMessages(t *testing.T, s webhook.Store) {
	putMessages(t, s, message("b", "e"), message("a", "e"), message("c", "f"), message("d", ""))
	check := func(when, event string, want ...string) {
		t.Helper()
		for _, m := range messages(t, s, webhook.MessageQuery{Event: event}) {
			cur := messages(t, s, webhook.MessageQuery{ID: m.ID})
			if diff := cmp.Diff(cur, []*webhook.Message{m}, diffOpts...); diff != "" {
				t.Errorf("%s: Messages(Event %q) returned %s, not as its current version is (-current +returned):\n%s", when, event, m.ID, diff)
			}
		}
		checkMessages(t, s, when+": Messages by Event must list the current versions of the messages that event triggers, in ID order",
			webhook.MessageQuery{Event: event}, want...)
	}
	check("at first", "e", "a@1", "b@1")
	check("at first", "f", "c@1")
	check("at first", "nothing")
	// A new version that is no longer triggered, or triggered by another event, moves.
	putMessages(t, s, message("b", ""), message("c", "e"), message("d", "e"))
	check("after new versions", "e", "a@1", "c@2", "d@2")
	check("after new versions", "f")
}

func testMessagesPaging(t *testing.T, s webhook.Store) {
	putMessages(t, s, message("m3", ""), message("m1", "e"), message("M", ""), message("m2", ""), message("m1", ""))
	all := []string{"M@1", "m1@2", "m2@1", "m3@1"}
	for _, tt := range []struct {
		after string
		limit int
		want  []string
	}{
		{"", 10, all},
		{"", 2, all[:2]},
		{"m1", 2, all[2:]},
		{"m10", 10, all[2:]}, // "m2" sorts after "m10"
		{"m3", 10, nil},
		{"", 0, nil},
	} {
		checkMessages(t, s, "a list must have up to Limit messages whose IDs sort after After, at their current versions, in ID order",
			webhook.MessageQuery{After: tt.after, Limit: tt.limit}, tt.want...)
	}
}

func testDeleteMessage(t *testing.T, s webhook.Store) {
	putMessages(t, s, message("a", "e"), message("b", "e"), message("b", "e"), message("c", ""))
	must(t, "DeleteMessage", s.DeleteMessage(t.Context(), "b"))
	checkMessages(t, s, "a deleted message is left out of lists", webhook.MessageQuery{Limit: 10}, "a@1", "c@1")
	checkMessages(t, s, "a deleted message is left out of triggers", webhook.MessageQuery{Event: "e"}, "a@1")
	for _, q := range []webhook.MessageQuery{{ID: "b"}, {ID: "b", Version: 2}} {
		checkMessages(t, s, "a deleted message's current version is still returned by ID", q, "b@2")
	}
	checkMessages(t, s, "a deleted message's older versions are still returned by ID", webhook.MessageQuery{ID: "b", Version: 1}, "b@1")
	must(t, "DeleteMessage of a message without triggers", s.DeleteMessage(t.Context(), "c"))
	checkMessages(t, s, "a deleted message is left out of lists", webhook.MessageQuery{Limit: 10}, "a@1")
}

func testUndeleteMessage(t *testing.T, s webhook.Store) {
	putMessages(t, s, message("a", "e"), message("a", "e"))
	must(t, "DeleteMessage", s.DeleteMessage(t.Context(), "a"))
	m := message("a", "e")
	putMessages(t, s, m)
	if m.Version != 3 {
		t.Errorf("PutMessage of a deleted message at version 2 set Version %d, want 3: one more than the latest", m.Version)
	}
	checkMessages(t, s, "a message saved again after it was deleted is listed", webhook.MessageQuery{Limit: 10}, "a@3")
	checkMessages(t, s, "a message saved again after it was deleted triggers", webhook.MessageQuery{Event: "e"}, "a@3")
	checkMessages(t, s, "its older versions are kept", webhook.MessageQuery{ID: "a", Version: 1}, "a@1")
}

func testDeleteUnknownMessage(t *testing.T, s webhook.Store) {
	putMessages(t, s, message("a", "e"))
	if err := s.DeleteMessage(t.Context(), "nope"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("DeleteMessage of an unknown message = %v, want an error wrapping ErrNotFound", err)
	}
	checkMessages(t, s, "DeleteMessage of another message changes nothing", webhook.MessageQuery{Limit: 10}, "a@1")
}
