package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var userRules = []rule{
	{"PutUsersThenUsersReturnsThem", testUserRoundTrip},
	{"PutUsersSetsCreatedAtOfANewUserToNowIfZero", testUserCreatedAt},
	{"PutUsersWithReplaceReplacesAUserWhole", testPutUsersReplaces},
	{"PutUsersMergesNonZeroFieldsAndNamedAttributesByDefault", testPutUsersMerges},
	{"PutUsersMergeOfANewUserSavesItAsGiven", testPutUsersMergeNew},
	{"UsersByIDsAreInIDOrderWithoutMissingOrRepeatedUsers", testUsersByIDs},
	{"UsersPagesByIDInByteOrder", testUsersPaging},
}

// fullUser returns a user with every field set, attributes in the JSON data model.
func fullUser(id string) webhook.User {
	return webhook.User{
		ID: id, Email: id + "@example.com", TimeZone: "Europe/Berlin", Locale: "de-DE",
		Country: "DE", Region: "BE", City: "Berlin", Test: true,
		CreatedAt: at(0), LastActive: at(90*time.Minute + 7*µs),
		Attributes: webhook.Map{
			"name": "Ann", "age": int64(41), "score": 2.5, "vip": true, "none": nil,
			"big":  int64(1) << 60,
			"tags": []any{"a", int64(2), webhook.Map{"x": false}},
			"addr": webhook.Map{"city": "Berlin", "zip": "10115"},
		},
	}
}

// putUsers saves users as given, with Replace, and Now at epoch.
func putUsers(t *testing.T, s webhook.Store, users ...webhook.User) {
	t.Helper()
	p := webhook.PutUsersParams{Now: at(0)}
	for _, u := range users {
		p.Users = append(p.Users, webhook.UserUpdate{User: u, Replace: true})
	}
	must(t, "PutUsers", s.PutUsers(t.Context(), p))
}

// getUser returns the Store's user id, failing the rule if it holds none.
func getUser(t *testing.T, s webhook.Store, id string) webhook.User {
	t.Helper()
	us, err := s.Users(t.Context(), webhook.UserQuery{IDs: []string{id}})
	must(t, "Users", err)
	if len(us) != 1 || us[0].ID != id {
		t.Fatalf("Users(IDs: [%s]) returned %d users %v, want user %s", id, len(us), userIDs(us), id)
	}
	return us[0]
}

// userIDs returns the IDs of users.
func userIDs(users []webhook.User) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.ID
	}
	return out
}

func testUserRoundTrip(t *testing.T, s webhook.Store) {
	u1, u2 := fullUser("u1"), fullUser("u2")
	u2.Attributes = nil
	putUsers(t, s, u1, u2)
	for _, want := range []webhook.User{u1, u2} {
		if diff := cmp.Diff(want, getUser(t, s, want.ID), diffOpts...); diff != "" {
			t.Errorf("Users returned a different user than PutUsers saved (-saved +returned):\n%s", diff)
		}
	}
}

func testUserCreatedAt(t *testing.T, s webhook.Store) {
	given := webhook.User{ID: "given", CreatedAt: at(-time.Hour)}
	none := webhook.User{ID: "none"}
	now := at(3*time.Hour + 5*µs)
	p := webhook.PutUsersParams{Now: now, Users: []webhook.UserUpdate{{User: given, Replace: true}, {User: none}}}
	must(t, "PutUsers", s.PutUsers(t.Context(), p))
	if got := getUser(t, s, "given"); !got.CreatedAt.Equal(at(-time.Hour)) {
		t.Errorf("a new user saved with CreatedAt %v has CreatedAt %v, want it kept", at(-time.Hour), got.CreatedAt)
	}
	if got := getUser(t, s, "none"); !got.CreatedAt.Equal(now) {
		t.Errorf("a new user saved with no CreatedAt has CreatedAt %v, want PutUsersParams.Now %v", got.CreatedAt, now)
	}
}

func testPutUsersReplaces(t *testing.T, s webhook.Store) {
	putUsers(t, s, fullUser("u1"), fullUser("u2"))
	bob := webhook.User{ID: "u1", Attributes: webhook.Map{"name": "Bob"}}
	later := webhook.User{ID: "u2", CreatedAt: at(time.Hour)}
	p := webhook.PutUsersParams{Now: at(2 * time.Hour), Users: []webhook.UserUpdate{{User: bob, Replace: true}, {User: later, Replace: true}}}
	must(t, "PutUsers again", s.PutUsers(t.Context(), p))
	want := bob
	want.CreatedAt = at(0)
	if diff := cmp.Diff(want, getUser(t, s, "u1"), diffOpts...); diff != "" {
		t.Errorf("PutUsers with Replace must replace the user whole, keeping the stored CreatedAt if the new one is zero (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(later, getUser(t, s, "u2"), diffOpts...); diff != "" {
		t.Errorf("PutUsers with Replace must replace the user whole, CreatedAt too if it is not zero (-want +got):\n%s", diff)
	}
	users, err := s.Users(t.Context(), webhook.UserQuery{Limit: 10})
	must(t, "Users", err)
	if got := userIDs(users); !cmp.Equal(got, []string{"u1", "u2"}) {
		t.Errorf("Users lists %v after saving u1 and u2 twice, want [u1 u2]", got)
	}
}

func testPutUsersMerges(t *testing.T, s webhook.Store) {
	putUsers(t, s, fullUser("u1"), fullUser("u2"), webhook.User{ID: "bare"})
	u1 := webhook.User{ // zero fields keep the stored ones, Test false does not unset
		ID: "u1", City: "Potsdam", LastActive: at(5 * time.Hour),
		Attributes: webhook.Map{"name": "Bob", "vip": nil, "addr": webhook.Map{"city": "Potsdam"}, "new": int64(1)},
	}
	u2 := webhook.User{ID: "u2", Email: "new@example.com", CreatedAt: at(-time.Hour)}
	bare := webhook.User{ID: "bare", Test: true, Attributes: webhook.Map{"a": "b"}}
	p := webhook.PutUsersParams{Now: at(9 * time.Hour), Users: []webhook.UserUpdate{
		{User: u1, Unset: []string{"tags", "age", "missing"}},
		{User: u2},
		{User: bare},
	}}
	must(t, "PutUsers", s.PutUsers(t.Context(), p))

	want1 := fullUser("u1")
	want1.City, want1.LastActive = "Potsdam", at(5*time.Hour)
	want1.Attributes = webhook.Map{
		"name": "Bob", "score": 2.5, "vip": nil, "none": nil, "big": int64(1) << 60,
		"addr": webhook.Map{"city": "Potsdam"}, "new": int64(1),
	}
	want2 := fullUser("u2")
	want2.Email, want2.CreatedAt = "new@example.com", at(-time.Hour)
	wantBare := webhook.User{ID: "bare", Test: true, CreatedAt: at(0), Attributes: webhook.Map{"a": "b"}}
	for _, tt := range []struct {
		rule string
		want webhook.User
	}{
		{"the non-zero fields and each attribute given replace the stored ones (a nested map whole), the ones named in Unset are removed, the others kept", want1},
		{"a non-zero CreatedAt replaces the stored one, and attributes not given are kept", want2},
		{"Test is set, and attributes are added to a user that had none", wantBare},
	} {
		if diff := cmp.Diff(tt.want, getUser(t, s, tt.want.ID), diffOpts...); diff != "" {
			t.Errorf("PutUsers without Replace merges: of user %s, %s (-want +got):\n%s", tt.want.ID, tt.rule, diff)
		}
	}
}

func testPutUsersMergeNew(t *testing.T, s webhook.Store) {
	u := fullUser("u1")
	u.CreatedAt = time.Time{}
	p := webhook.PutUsersParams{Now: at(time.Hour), Users: []webhook.UserUpdate{{User: u, Unset: []string{"name"}}}}
	must(t, "PutUsers", s.PutUsers(t.Context(), p))
	want := u
	want.CreatedAt = at(time.Hour)
	if diff := cmp.Diff(want, getUser(t, s, "u1"), diffOpts...); diff != "" {
		t.Errorf("PutUsers that merges a user the Store does not hold must save it as given, with CreatedAt Now (-want +got):\n%s", diff)
	}
}

func testUsersByIDs(t *testing.T, s webhook.Store) {
	for _, id := range []string{"c", "a", "b", "B"} {
		putUsers(t, s, webhook.User{ID: id, Attributes: webhook.Map{"id": id}})
	}
	for _, tt := range []struct {
		q    webhook.UserQuery
		want []string
	}{
		{webhook.UserQuery{IDs: []string{"b"}}, []string{"b"}},
		{webhook.UserQuery{IDs: []string{"c", "a", "nobody", "B"}}, []string{"B", "a", "c"}},
		{webhook.UserQuery{IDs: []string{"a", "c", "a"}}, []string{"a", "c"}},
		{webhook.UserQuery{IDs: []string{"nobody"}}, nil},
		{webhook.UserQuery{IDs: []string{"c", "a"}, After: "b", Limit: 1}, []string{"a", "c"}}, // After and Limit ignored
	} {
		users, err := s.Users(t.Context(), tt.q)
		must(t, "Users", err)
		if diff := cmp.Diff(tt.want, userIDs(users), diffOpts...); diff != "" {
			t.Errorf("Users(%+v) must return each of those users it holds once, in ID order, ignoring After and Limit (-want +got):\n%s", tt.q, diff)
		}
		for _, u := range users {
			if u.Attributes["id"] != u.ID {
				t.Errorf("Users(%+v) returned user %q with attributes %v, want the ones saved with it: map[id:%s]", tt.q, u.ID, u.Attributes, u.ID)
			}
		}
	}
}

func testUsersPaging(t *testing.T, s webhook.Store) {
	// Byte order, not a locale's collation: upper case before lower case, "é" last.
	ids := []string{"u10", "B", "é", "a", "u2", "a0", "u1"}
	want := []string{"B", "a", "a0", "u1", "u10", "u2", "é"}
	for _, id := range ids {
		putUsers(t, s, webhook.User{ID: id, Attributes: webhook.Map{"id": id}})
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
		users, err := s.Users(t.Context(), webhook.UserQuery{After: tt.after, Limit: tt.limit})
		must(t, "Users", err)
		for _, u := range users {
			if u.Attributes["id"] != u.ID {
				t.Errorf("Users(After %q, Limit %d) returned user %q with attributes %v, want the ones saved with it: map[id:%s]", tt.after, tt.limit, u.ID, u.Attributes, u.ID)
			}
		}
		if diff := cmp.Diff(tt.want, userIDs(users), diffOpts...); diff != "" {
			t.Errorf("Users(After %q, Limit %d) must list up to Limit IDs after %q in byte order (-want +got):\n%s", tt.after, tt.limit, tt.after, diff)
		}
	}
}
