package webhook

import (
	"errors"
	"testing"
)

// A saved message version's Delivery.Where and Audience are compiled once, for the newest
// version and an older one alike; an unsaved message gets its own.
func TestTargetingCompiledOncePerVersion(t *testing.T) {
	var s Sender
	m := &Message{
		ID:       "m",
		Version:  1,
		Delivery: Delivery{Where: []Condition{{Key: "n", Op: OpGte, Value: 3}}},
		Audience: Attr("plan", OpEq, "gold"),
	}
	first, err := s.targeting(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.where) != 1 || first.audience == nil {
		t.Fatalf("targeting = %+v, want one Where condition and an audience", first)
	}
	if again, _ := s.targeting(m); again != first {
		t.Error("the same version was compiled again")
	}
	v2 := *m
	v2.Version = 2
	v2.Delivery.Where = nil
	if t2, _ := s.targeting(&v2); t2 == first || len(t2.where) != 0 {
		t.Errorf("version 2 got %+v, want its own targeting with no Where", t2)
	}
	// Deliveries enqueued before version 2 was saved keep version 1: it is kept beside it.
	if again, _ := s.targeting(m); again != first {
		t.Errorf("version 1 after version 2 got %+v, want the targeting compiled before", again)
	}
	unsaved := *m
	unsaved.Version = 0
	if u1, _ := s.targeting(&unsaved); u1 == first {
		t.Error("an unsaved message got a saved version's targeting")
	}
	bad := *m
	bad.Version = 3
	bad.Delivery.Where = []Condition{{Key: "n"}}
	if _, err := s.targeting(&bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("targeting of an invalid Where = %v, want ErrInvalid", err)
	}
}
