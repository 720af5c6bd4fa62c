package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var messageRules = []rule{
	{"PutMessageThenMessageReturnsIt", testMessageRoundTrip},
	{"PutMessageNumbersVersionsFrom1", testMessageVersions},
	{"UnknownMessageOrVersionIsErrNotFound", testUnknownMessage},
	{"TriggeredMessagesAreCurrentVersionsInIDOrder", testTriggeredMessages},
}

// message returns a message with every field set, Triggered by event if it is not empty.
func message(id, event string) *webhook.Message {
	m := &webhook.Message{
		ID: id, Name: "Message " + id, Method: "PUT",
		URL:         "https://api:secret@example.com/users/{{ user.id }}?q={{ parameter.q }}",
		ContentType: webhook.Form,
		Headers:     []webhook.Field{{Key: "X-B", Value: "2"}, {Key: "X-A", Value: "{{ user.email }}"}},
		Data:        []webhook.Field{{Key: "z", Value: "last"}, {Key: "a", Value: "first"}, {Key: "z", Value: "again"}},
	}
	if event != "" {
		m.Delivery = webhook.Delivery{Kind: webhook.Triggered, Event: event}
	}
	return m
}

func testMessageRoundTrip(t *testing.T, s webhook.Store) {
	m := message("m1", "signup")
	must(t, "PutMessage", s.PutMessage(t.Context(), m))
	want := *m
	m.URL = "https://changed.example.com" // the Store keeps what was saved, not the pointer
	for _, version := range []int{0, 1} {
		got, err := s.Message(t.Context(), "m1", version)
		must(t, "Message", err)
		if diff := cmp.Diff(&want, got, diffOpts...); diff != "" {
			t.Errorf("Message(m1, %d) differs from the message saved (-saved +returned):\n%s", version, diff)
		}
	}
}

func testMessageVersions(t *testing.T, s webhook.Store) {
	for want := 1; want <= 3; want++ {
		m := message("m1", "")
		m.Name = fmt.Sprintf("v%d", want)
		m.Version = 7 // ignored: the Store numbers versions
		must(t, "PutMessage", s.PutMessage(t.Context(), m))
		if m.Version != want {
			t.Errorf("PutMessage number %d set Version %d, want %d", want, m.Version, want)
		}
	}
	must(t, "PutMessage other", s.PutMessage(t.Context(), message("m2", "")))
	for version, name := range map[int]string{0: "v3", 1: "v1", 2: "v2", 3: "v3"} {
		got, err := s.Message(t.Context(), "m1", version)
		must(t, "Message", err)
		wantVersion := version
		if version == 0 {
			wantVersion = 3
		}
		if got.Name != name || got.Version != wantVersion {
			t.Errorf("Message(m1, %d) = %s version %d, want %s version %d", version, got.Name, got.Version, name, wantVersion)
		}
	}
	if got, err := s.Message(t.Context(), "m2", 0); err != nil || got.Version != 1 {
		t.Errorf("Message(m2, 0) = version %v, %v; want a new message at version 1", got, err)
	}
}

func testUnknownMessage(t *testing.T, s webhook.Store) {
	must(t, "PutMessage", s.PutMessage(t.Context(), message("m1", "")))
	for _, tt := range []struct {
		id      string
		version int
	}{{"nope", 0}, {"nope", 1}, {"m1", 2}, {"m1", -1}} {
		if m, err := s.Message(t.Context(), tt.id, tt.version); !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("Message(%q, %d) = %v, %v; want an error wrapping ErrNotFound", tt.id, tt.version, m, err)
		}
	}
}

func testTriggeredMessages(t *testing.T, s webhook.Store) {
	for _, m := range []*webhook.Message{message("b", "e"), message("a", "e"), message("c", "f"), message("d", "")} {
		must(t, "PutMessage", s.PutMessage(t.Context(), m))
	}
	check := func(when, event string, want ...string) {
		t.Helper()
		ms, err := s.TriggeredMessages(t.Context(), event)
		must(t, "TriggeredMessages", err)
		var got []string
		for _, m := range ms {
			cur, err := s.Message(t.Context(), m.ID, 0)
			must(t, "Message", err)
			if diff := cmp.Diff(cur, m, diffOpts...); diff != "" {
				t.Errorf("%s: TriggeredMessages(%q) returned %s, not its current version (-current +returned):\n%s", when, event, m.ID, diff)
			}
			got = append(got, m.ID)
		}
		if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
			t.Errorf("%s: TriggeredMessages(%q) must list the messages it triggers in ID order (-want +got):\n%s", when, event, diff)
		}
	}
	check("at first", "e", "a", "b")
	check("at first", "f", "c")
	check("at first", "nothing")
	// A new version that is no longer triggered, or triggered by another event, moves.
	must(t, "PutMessage", s.PutMessage(t.Context(), message("b", "")))
	must(t, "PutMessage", s.PutMessage(t.Context(), message("c", "e")))
	must(t, "PutMessage", s.PutMessage(t.Context(), message("d", "e")))
	check("after new versions", "e", "a", "c", "d")
	check("after new versions", "f")
}
