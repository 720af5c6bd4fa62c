package webhook

import "testing"

// A versionCache keeps two versions per message: the newest put, and the last older one.
func TestVersionCacheKeepsTheNewestAndTheLastOlder(t *testing.T) {
	var c versionCache[string]
	c.put("m", 2, "v2")
	c.put("m", 1, "v1") // an older delivery's version does not replace the newest
	c.put("other", 1, "o1")
	for _, tt := range []struct {
		version int
		want    string
	}{{2, "v2"}, {1, "v1"}, {3, ""}} {
		if got, ok := c.get("m", tt.version); got != tt.want || ok != (tt.want != "") {
			t.Errorf("get(m, %d) = %q, %v; want %q", tt.version, got, ok, tt.want)
		}
	}
	c.put("m", 3, "v3") // a newer version becomes the newest, and the newest the older one
	for _, tt := range []struct {
		version int
		want    string
	}{{3, "v3"}, {2, "v2"}, {1, ""}} {
		if got, ok := c.get("m", tt.version); got != tt.want || ok != (tt.want != "") {
			t.Errorf("after version 3, get(m, %d) = %q, %v; want %q", tt.version, got, ok, tt.want)
		}
	}
	if got, ok := c.get("other", 1); !ok || got != "o1" {
		t.Errorf("get(other, 1) = %q, %v; want o1: messages are kept apart", got, ok)
	}
}
