package webhook

import (
	"time"

	"github.com/hookline/webhook/internal/wallclock"
)

// QuietHours is a daily period, in each user's time zone (Config.DefaultTimeZone for users
// without one), during which no message is sent: a job that comes due in quiet hours,
// including a retry, is held and sent when they end. Holding a job is not an attempt and is
// not logged as one. The zero QuietHours is none.
type QuietHours struct {
	// Start is the wall-clock time of day quiet hours begin, as the time since midnight:
	// 22*time.Hour for 22:00. It must be in [0, 24h).
	Start time.Duration
	// End is the wall-clock time of day they end, in [0, 24h). An End before Start spans
	// midnight: Start 22h, End 8h is 22:00 to 08:00 the next day. It must differ from Start.
	// On a daylight-saving day, an End in the skipped hour is moved forward by the skip, and
	// an End in the repeated hour is its first occurrence.
	End time.Duration
}

// until reports whether t is in quiet hours in t's location and, if so, when they end: at End
// on the clocks there, as [wallclock.At] reads a time of day on a daylight-saving day.
func (q QuietHours) until(t time.Time) (time.Time, bool) {
	if q == (QuietHours{}) {
		return time.Time{}, false
	}
	y, mo, d := t.Date()
	tod := wallclock.TimeOfDay(t)
	switch {
	case q.Start < q.End && q.Start <= tod && tod < q.End, q.Start > q.End && tod < q.End:
		// Quiet hours end today.
	case q.Start > q.End && tod >= q.Start:
		d++ // they end tomorrow
	default:
		return time.Time{}, false
	}
	end := wallclock.At(time.Date(y, mo, d, 0, 0, 0, 0, time.UTC), q.End, t.Location()).In(t.Location())
	return end, end.After(t)
}

// validate adds the problems of Config.QuietHours to ps.
func (q QuietHours) validate(ps *problems) {
	for _, f := range []struct {
		path string
		v    time.Duration
	}{{"QuietHours.Start", q.Start}, {"QuietHours.End", q.End}} {
		if f.v < 0 || f.v >= 24*time.Hour {
			ps.add(f.path, "%v is not a time of day in [0, 24h)", f.v)
		}
	}
	if q.Start == q.End && q.Start != 0 {
		ps.add("QuietHours.End", "equals Start (%v): quiet hours would be empty", q.Start)
	}
}
