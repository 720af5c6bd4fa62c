package storetest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var userRules = []rule{
	{"PutUserThenUserReturnsIt", testUserRoundTrip},
	{"PutUserReplacesTheUser", testPutUserReplaces},
	{"UnknownUserIsErrNotFound", testUnknownUser},
	{"UsersPagesByIDInByteOrder", testUsersPaging},
}

// fullUser returns a user with every field set, attributes in the JSON data model.
func fullUser(id string) webhook.User {
	return webhook.User{
		ID: id, Email: id + "@example.com", TimeZone: "Europe/Berlin", Locale: "de-DE",
		Country: "DE", Region: "BE", City: "Berlin", Test: true,
		CreatedAt: at(0), LastActive: at(90 * 60e9),
		Attributes: webhook.Map{
			"name": "Ann", "age": int64(41), "score": 2.5, "vip": true, "none": nil,
			"big":  int64(1) << 60,
			"tags": []any{"a", int64(2), webhook.Map{"x": false}},
			"addr": webhook.Map{"city": "Berlin", "zip": "10115"},
		},
	}
}

func testUserRoundTrip(t *testing.T, s webhook.Store) {
	want := fullUser("u1")
	must(t, "PutUser", s.PutUser(t.Context(), want))
	got, err := s.User(t.Context(), "u1")
	must(t, "User", err)
	if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("User returned a different user than PutUser saved (-saved +returned):\n%s", diff)
	}
}

func testPutUserReplaces(t *testing.T, s webhook.Store) {
	must(t, "PutUser", s.PutUser(t.Context(), fullUser("u1")))
	want := webhook.User{ID: "u1", Attributes: webhook.Map{"name": "Bob"}}
	must(t, "PutUser again", s.PutUser(t.Context(), want))
	got, err := s.User(t.Context(), "u1")
	must(t, "User", err)
	if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("after a second PutUser, User returned (-second +returned):\n%s", diff)
	}
	users, err := s.Users(t.Context(), "", 10)
	must(t, "Users", err)
	if len(users) != 1 {
		t.Errorf("Users lists %d users after saving one twice, want 1", len(users))
	}
}

func testUnknownUser(t *testing.T, s webhook.Store) {
	if _, err := s.User(t.Context(), "nobody"); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("User(unknown) = %v, want an error wrapping ErrNotFound", err)
	}
}

func testUsersPaging(t *testing.T, s webhook.Store) {
	// Byte order, not a locale's collation: upper case before lower case, "é" last.
	ids := []string{"u10", "B", "é", "a", "u2", "a0", "u1"}
	want := []string{"B", "a", "a0", "u1", "u10", "u2", "é"}
	for _, id := range ids {
		must(t, "PutUser", s.PutUser(t.Context(), webhook.User{ID: id, Attributes: webhook.Map{"id": id}}))
	}
	for _, tt := range []struct {
		after string
		limit int
		want  []string
	}{
		{"", 3, want[:3]},
		{"a0", 3, want[3:6]},
		{"u2", 3, want[6:]},
		{"é", 3, nil},
		{"", 100, want},
		{"a00", 2, want[3:5]}, // an ID that does not exist
		{"", 0, nil},
	} {
		users, err := s.Users(t.Context(), tt.after, tt.limit)
		must(t, "Users", err)
		var got []string
		for _, u := range users {
			got = append(got, u.ID)
			if u.Attributes["id"] != u.ID {
				t.Errorf("Users(%q, %d) returned user %q with attributes %v, want the ones saved with it: map[id:%s]", tt.after, tt.limit, u.ID, u.Attributes, u.ID)
			}
		}
		if diff := cmp.Diff(tt.want, got, diffOpts...); diff != "" {
			t.Errorf("Users(%q, %d) must list IDs after %q in byte order (-want +got):\n%s", tt.after, tt.limit, tt.after, diff)
		}
	}
}
