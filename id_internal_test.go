package webhook

import (
	"encoding/json"
	"testing"
)

// TestJobKeyIsJSON checks that jobKey writes what json.Marshal writes of its three parts,
// on its own path for plain parts and on json.Marshal's for the others.
func TestJobKeyIsJSON(t *testing.T) {
	parts := []string{
		"", "welcome", "user-42", "send:job_01jz", "key:a b~c", "once",
		`say "hi"`, `back\slash`, "a<b", "a>b", "a&b", "tab\there", "new\nline", "é", "\u2028", "\xff", "\x7f",
	}
	for _, m := range parts {
		for _, u := range parts {
			for _, o := range parts {
				want, err := json.Marshal([3]string{m, u, o})
				if err != nil {
					t.Fatal(err)
				}
				if got := jobKey(m, u, o); got != string(want) {
					t.Errorf("jobKey(%q, %q, %q) = %s, want %s", m, u, o, got, want)
				}
			}
		}
	}
}
