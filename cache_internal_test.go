package webhook

import (
	"context"
	"errors"
	"testing"
)

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

// countingMessages is a MessageStore of versions that counts its reads.
type countingMessages struct {
	MessageStore // nil: only PutMessage and Messages are used
	versions     []*Message
	reads        int
}

func (c *countingMessages) PutMessage(_ context.Context, m *Message) error {
	cp := *m
	c.versions = append(c.versions, &cp)
	cp.Version = len(c.versions)
	return nil
}

func (c *countingMessages) Messages(_ context.Context, q MessageQuery) ([]*Message, error) {
	c.reads++
	if q.Version < 1 || q.Version > len(c.versions) {
		return nil, nil
	}
	return []*Message{c.versions[q.Version-1]}, nil
}

// A saved message version is loaded and compiled once — its templates, Delivery.Where and
// Audience — for the newest version and an older one alike.
func TestMessageVersionCompiledOnce(t *testing.T) {
	ctx := context.Background()
	store := &countingMessages{}
	c := &messageCache{store: store, engine: newEngine(false)}
	m := &Message{
		ID:       "m",
		URL:      "https://example.com/{{ user.id }}",
		Delivery: Delivery{Kind: Triggered, Event: "e", Where: []Condition{{Key: "n", Op: OpGte, Value: 3}}},
		Audience: Attr("plan", OpEq, "gold"),
	}
	if err := store.PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	first, err := c.get(ctx, "m", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.where) != 1 || first.audience == nil {
		t.Fatalf("compiled = %+v, want one Where condition and an audience", first)
	}
	if again, _ := c.get(ctx, "m", 1); again != first || store.reads != 1 {
		t.Errorf("the same version was loaded %d times, compiled again: %v", store.reads, again != first)
	}
	v2 := *m
	v2.Delivery.Where = nil
	if err := store.PutMessage(ctx, &v2); err != nil {
		t.Fatal(err)
	}
	if c2, _ := c.get(ctx, "m", 2); c2 == first || len(c2.where) != 0 {
		t.Errorf("version 2 got %+v, want its own compilation with no Where", c2)
	}
	// Jobs enqueued before version 2 was saved keep version 1: it is kept beside it.
	if again, _ := c.get(ctx, "m", 1); again != first || store.reads != 2 {
		t.Errorf("version 1 after version 2: same = %v after %d reads, want the one compiled before after 2", again == first, store.reads)
	}
	if _, err := c.get(ctx, "m", 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("get of a version never saved = %v, want ErrNotFound", err)
	}
	bad := *m
	bad.Delivery.Where = []Condition{{Key: "n"}} // saved by other code: no check
	if err := store.PutMessage(ctx, &bad); err != nil {
		t.Fatal(err)
	}
	if _, err := c.get(ctx, "m", 3); !errors.Is(err, ErrInvalid) {
		t.Errorf("get of an invalid version = %v, want ErrInvalid", err)
	}
}
