package webhook

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterStateIsBounded(t *testing.T) {
	l := newLimits(&Config{HostRate: 1, HostBurst: 1})
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range maxTracked + 100 {
		// Two deliveries per host: the second waits, holding a slot, so no host is idle.
		host := fmt.Sprintf("h%d.example.com", i)
		l.admit(fmt.Sprintf("a%d", i), host, "m", 600, now)
		if wait := l.admit(fmt.Sprintf("b%d", i), host, "m", 600, now); wait <= 0 {
			t.Fatalf("second delivery to %s was not held back", host)
		}
	}
	if len(l.hosts) > maxTracked || len(l.messages) > maxTracked || len(l.slots) > maxTracked {
		t.Errorf("tracking %d hosts, %d messages, %d slots; want at most %d each", len(l.hosts), len(l.messages), len(l.slots), maxTracked)
	}
	// Once the slots are in the past, new ones replace them.
	later := now.Add(time.Hour)
	for i := range 10 {
		host := fmt.Sprintf("new%d.example.com", i)
		l.admit(fmt.Sprintf("c%d", i), host, "other", 0, later)
		l.admit(fmt.Sprintf("d%d", i), host, "other", 0, later)
	}
	if _, ok := l.slots["d9"]; !ok || len(l.slots) > maxTracked {
		t.Errorf("after an hour, %d slots and none for d9; stale slots should make room", len(l.slots))
	}
}
