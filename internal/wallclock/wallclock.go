// Package wallclock reads and computes wall-clock times in time zones: times of day, dates,
// and the instants at which clocks show them, across daylight-saving changes.
package wallclock

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxAhead and MaxBehind bound the time zones in use: no clock is more than 14 hours
// ahead of UTC or 12 behind.
const (
	MaxAhead  = 14 * time.Hour
	MaxBehind = 12 * time.Hour
)

// ParseZone returns the time zone a Delivery names: "" (UTC), an offset such as "GMT-7",
// "UTC+05:45" or "GMT", or an IANA name.
func ParseZone(name string) (*time.Location, error) {
	for _, prefix := range []string{"GMT", "UTC"} {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if rest == "" {
			return time.UTC, nil
		}
		sign := 1
		switch rest[0] {
		case '-':
			sign = -1
		case '+':
		default:
			return nil, fmt.Errorf("unknown time zone %q", name)
		}
		hh, mm, hasMin := strings.Cut(rest[1:], ":")
		h, err := strconv.Atoi(hh)
		m := 0
		if err == nil && hasMin {
			m, err = strconv.Atoi(mm)
		}
		if err != nil || len(hh) > 2 || h > 14 || m < 0 || m > 59 || hasMin && len(mm) != 2 {
			return nil, fmt.Errorf("%q is not an offset like GMT-7 or UTC+05:45", name)
		}
		return time.FixedZone(name, sign*(h*3600+m*60)), nil
	}
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// ParseTimeOfDay returns the time since midnight of a "15:04" time of day.
func ParseTimeOfDay(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day like 15:04", s)
	}
	return TimeOfDay(t), nil
}

// At returns the instant at which clocks in loc show the time of day tod on day (a
// date at midnight UTC). A time the clocks skip is taken as if they had not jumped (02:30
// when 02:00 becomes 03:00 is 03:30); a time they show twice is the first of the two.
func At(day time.Time, tod time.Duration, loc *time.Location) time.Time {
	naive := day.Add(tod)
	_, before := naive.Add(-24 * time.Hour).In(loc).Zone()
	_, after := naive.Add(24 * time.Hour).In(loc).Zone()
	t1 := naive.Add(-time.Duration(before) * time.Second)
	t2 := naive.Add(-time.Duration(after) * time.Second)
	ok1 := offset(t1, loc) == before
	ok2 := offset(t2, loc) == after
	switch {
	case ok1 && ok2 && t2.Before(t1):
		return t2
	case ok1 || !ok2:
		return t1 // the only valid one, the first of two, or in a gap: the offset before it
	default:
		return t2
	}
}

// offset returns the offset of loc from UTC at t, in seconds.
func offset(t time.Time, loc *time.Location) int {
	_, off := t.In(loc).Zone()
	return off
}

// Date returns the day (at midnight UTC) that clocks in loc show at t.
func Date(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Next returns the first time of day tod in loc, on day or a later day, that is not
// before notBefore.
func Next(day time.Time, tod time.Duration, loc *time.Location, notBefore time.Time) time.Time {
	if d := Date(notBefore, loc).AddDate(0, 0, -1); d.After(day) {
		day = d
	}
	for ; ; day = day.AddDate(0, 0, 1) {
		if t := At(day, tod, loc); !t.Before(notBefore) {
			return t
		}
	}
}

// NextHour returns the first time after t at which clocks in loc show a whole hour (or
// the time that stands for it, when the clocks jump over it).
func NextHour(t time.Time, loc *time.Location) time.Time {
	return t.Add(time.Hour - TimeOfDay(t.In(loc))%time.Hour)
}

// TimeOfDay returns t's wall-clock time since midnight.
func TimeOfDay(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}
