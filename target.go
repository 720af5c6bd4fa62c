package webhook

import (
	"context"
	"time"
)

// Audience selects the users a message goes to. The zero Audience matches every user.
type Audience struct{}

// inAudience reports whether u is in m's audience at now.
func (s *Sender) inAudience(ctx context.Context, m *Message, u User, now time.Time) (bool, error) {
	return true, nil
}
