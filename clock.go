package webhook

import "time"

// Clock tells the Sender what time it is and wakes it when jobs come due. Every time the
// library reads or waits for comes from its Clock, so a test can replace it with
// webhooktest.FakeClock and run hours of retries and schedules in milliseconds.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a Timer that sends the time on its channel once, after at least d.
	// A Timer with d <= 0 fires at once.
	NewTimer(d time.Duration) Timer
}

// Timer is a single event made by a [Clock], like a [time.Timer].
type Timer interface {
	// C returns the channel on which the time is delivered.
	C() <-chan time.Time
	// Stop prevents the Timer from firing. It reports whether the call stopped the timer,
	// false if it had already fired or been stopped.
	Stop() bool
}

// systemClock is the Clock of package time, the default.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }

func (t systemTimer) Stop() bool { return t.t.Stop() }
