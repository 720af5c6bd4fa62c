package webhook

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Cap limits how many messages a user is sent in a rolling window: at most Max in any Per,
// counting the jobs that succeeded (their Succeeded attempts in the attempt log).
// Config.Caps count the jobs of all messages but those with Delivery.IgnoreCaps; a
// Delivery.Cap those of one message.
//
// A cap is checked before the first attempt of each job; a job over a cap is skipped, logged
// as Skipped. A Sender checks and sends one such job to a user at a time (others to the same
// user wait for it), so each check counts every send before it and one Sender keeps a cap
// exactly, except that a job that passed the check and is waiting for a retry is counted only
// once it succeeds. Senders that share a Store do not wait for each other: a cap can be
// exceeded by one job per other Sender sending to the same user at the same moment.
type Cap struct {
	// Max is the most jobs in the window. It must be at least 1.
	Max int `json:"max"`
	// Per is the window's length, such as 24*time.Hour for "per day" or 7*24*time.Hour for
	// "per week". It must be positive.
	Per time.Duration `json:"per"`
}

// validateCaps adds the problems of Config.Caps to ps.
func validateCaps(caps []Cap, ps *problems) {
	for i, c := range caps {
		c.validate(fmt.Sprintf("Caps[%d].Max", i), fmt.Sprintf("Caps[%d].Per", i), ps)
	}
}

// validate adds c's problems to ps, with the paths of its fields.
func (c Cap) validate(maxPath, perPath string, ps *problems) {
	if c.Max < 1 {
		ps.add(maxPath, "must be at least 1, got %d", c.Max)
	}
	if c.Per <= 0 {
		ps.add(perPath, "must be positive, got %v", c.Per)
	}
}

// messageCap is a cap and the message whose jobs it counts, or "" for those of every message
// that does not ignore caps.
type messageCap struct {
	Cap
	messageID string
}

// capsOf returns the caps on a job of a message with ID messageID and Delivery d: Config.Caps
// unless d.IgnoreCaps, and d.Cap.
func capsOf(caps []Cap, d *Delivery, messageID string) []messageCap {
	var out []messageCap
	if !d.IgnoreCaps {
		for _, c := range caps {
			out = append(out, messageCap{c, ""})
		}
	}
	if d.Cap != (Cap{}) {
		out = append(out, messageCap{d.Cap, messageID})
	}
	return out
}

// exceeded returns why a job at now would exceed one of caps, given the user's succeeded
// attempts sent (at least those of the longest window), or "" if it would not.
func exceeded(caps []messageCap, sent []Attempt, now time.Time) string {
	for _, c := range caps {
		since := now.Add(-c.Per)
		n := 0
		for i := range sent {
			a := &sent[i]
			if a.Time.Before(since) {
				continue
			}
			if c.messageID == "" && !a.IgnoreCaps || c.messageID != "" && a.MessageID == c.messageID {
				n++
			}
		}
		if n >= c.Max {
			what := "frequency cap"
			if c.messageID != "" {
				what = "message cap"
			}
			return fmt.Sprintf("%s reached: %d sent in %v, at most %d", what, n, c.Per, c.Max)
		}
	}
	return ""
}

// userLocks is a lock per user ID. The zero userLocks is ready to use.
type userLocks struct {
	mu   sync.Mutex               // guards held
	held map[string]chan struct{} // user ID → closed when its holder unlocks
}

// lock waits until no one holds id's lock, takes it, and returns the function that releases
// it. It returns ctx's error if ctx ends first.
func (l *userLocks) lock(ctx context.Context, id string) (unlock func(), err error) {
	for {
		l.mu.Lock()
		wait, busy := l.held[id]
		if !busy {
			if l.held == nil {
				l.held = map[string]chan struct{}{}
			}
			mine := make(chan struct{})
			l.held[id] = mine
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, id)
				l.mu.Unlock()
				close(mine)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
