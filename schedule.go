package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hookline/webhook/internal/wallclock"
)

// DeliveryKind says how a message's jobs are started.
type DeliveryKind string

const (
	// Manual messages are sent only by [Sender.Send], the server-to-server call. It is the
	// kind of the zero Delivery.
	Manual DeliveryKind = "manual"
	// Triggered messages are sent when a user does something: [Sender.Trigger] with an
	// event named Delivery.Event enqueues one job to that user.
	Triggered DeliveryKind = "triggered"
	// Immediate messages are sent to the whole audience, at once, when their campaign is
	// started with [Sender.StartCampaign].
	Immediate DeliveryKind = "immediate"
	// Scheduled messages are sent once to the whole audience: at the instant At, or on Date
	// at TimeOfDay on the clocks of TimeZone or of each user (UserTimeZone). IfPassed says
	// what happens to users whose time has passed when the campaign is started.
	Scheduled DeliveryKind = "scheduled"
	// Recurring messages are sent to the whole audience at TimeOfDay, on the clocks of
	// TimeZone or of each user, every day, on the Weekdays, or on DayOfMonth, from Start (or
	// the campaign's start, if later) until End. Each occurrence is sent once per user.
	Recurring DeliveryKind = "recurring"
	// OptimalTime messages are sent to each user of the audience at the hour of day at which
	// they were most often active (by their events in the 28 days before the campaign's
	// start, in their time zone), within Window after the start. Users with fewer than 3
	// such events get it at TimeOfDay in their time zone if that comes within the window,
	// and at the start otherwise.
	OptimalTime DeliveryKind = "optimal_time"
)

// Delivery says when a message is sent.
type Delivery struct {
	// Kind is the delivery method. Defaults to Manual.
	Kind DeliveryKind `json:"kind,omitempty"`
	// Event is the name of the event that triggers a Triggered message. Required for
	// Triggered.
	Event string `json:"event,omitempty"`
	// Where filters the events that trigger a Triggered message: an event enqueues a
	// job only if its parameters meet every condition. Empty means every event.
	Where []Condition `json:"where,omitempty"`
	// Delay is how long after its event's Time a Triggered message is sent, such as
	// 2*time.Hour for "two hours after signup"; a job whose time has already passed is
	// sent at once. Defaults to 0: at once.
	Delay time.Duration `json:"delay,omitempty"`
	// Unless names an event that cancels a Triggered message's pending jobs to the
	// user who does it, such as "purchase" for "unless they purchased in the meantime": when
	// it is triggered, every job of the message to that user that was enqueued before
	// and is not yet sent (or is waiting for a retry) is cancelled and logged as Cancelled.
	// A job being sent at that moment is not stopped. Needs a Delay and must differ
	// from Event. Defaults to none.
	Unless string `json:"unless,omitempty"`
	// Once sends a Triggered message at most once to each user, ever: after the first
	// job is enqueued, later events enqueue nothing, even if that job was then
	// cancelled, skipped or failed. Defaults to false: one job per event.
	Once bool `json:"once,omitempty"`
	// DropWhilePaused makes the events that arrive while a Triggered message's campaign is
	// paused (see [Sender.PauseCampaign]) enqueue nothing. By default their jobs are enqueued
	// held, and sent when the campaign is resumed (at once, if their time came during the
	// pause). Defaults to false.
	DropWhilePaused bool `json:"drop_while_paused,omitempty"`
	// Cap, if set, sends a Triggered message at most Cap.Max times to each user in any
	// Cap.Per, such as {Max: 1, Per: 24 * time.Hour} for "at most once a day": a job that
	// comes due when the user was sent Max of them in the last Per is skipped and logged as
	// Skipped. It counts and caps every job of the message, those of [Sender.Send] included;
	// it is kept as exactly as Config.Caps are (see [Cap]), and applies whether or not
	// IgnoreCaps is set. Defaults to none.
	Cap Cap `json:"cap,omitzero"`
	// IgnoreCaps exempts the message from Config.Caps: its jobs are never skipped for a
	// cap and do not count toward one. For transactional messages. Defaults to false.
	IgnoreCaps bool `json:"ignore_caps,omitempty"`
	// IgnoreQuietHours exempts the message from Config.QuietHours: its jobs are sent
	// when due, day or night. Defaults to false.
	IgnoreQuietHours bool `json:"ignore_quiet_hours,omitempty"`

	// At is the instant a Scheduled message is sent. A Scheduled message has either At or
	// Date.
	At time.Time `json:"at,omitzero"`
	// Date is the day, as "2006-01-02", on which a Scheduled message is sent at TimeOfDay.
	Date string `json:"date,omitempty"`
	// TimeOfDay is the wall-clock time, as "15:04", of a Scheduled message with a Date and
	// of a Recurring message (required for both), and the fallback time of an OptimalTime
	// message. A time that the clocks skip (02:30 when they jump from 02:00 to 03:00) is
	// taken as if they had not jumped (03:30); a time they show twice when they fall back
	// is the first of the two. Either way it is sent once.
	TimeOfDay string `json:"time_of_day,omitempty"`
	// TimeZone is the time zone of Date and TimeOfDay: an IANA name such as
	// "America/Denver", or an offset from UTC such as "GMT-7", "UTC+05:45" or "GMT" (note
	// that "GMT-7" is seven hours behind UTC, unlike the IANA name "Etc/GMT-7"). Defaults to
	// UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// UserTimeZone sends at Date and TimeOfDay on each user's own clock, instead of
	// TimeZone's. Users without a time zone use Config.DefaultTimeZone.
	UserTimeZone bool `json:"user_time_zone,omitempty"`
	// IfPassed says what a Scheduled message does for a user whose time has already passed
	// when the campaign is started. Defaults to PassedSendNow.
	IfPassed PassedPolicy `json:"if_passed,omitempty"`
	// Weekdays are the days on which a Recurring message is sent. Empty, with no
	// DayOfMonth, means every day.
	Weekdays []time.Weekday `json:"weekdays,omitempty"`
	// DayOfMonth is the day of the month, 1 to 31, on which a Recurring message is sent; in
	// months without that day, it is sent on the last day.
	DayOfMonth int `json:"day_of_month,omitempty"`
	// Start and End bound the occurrences of a Recurring message: it is sent to a user for
	// an occurrence whose time, on the user's clock or TimeZone's, is at or after Start (or
	// the campaign's start, if later) and before End. A zero End means no end.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Window is how long after the campaign's start an OptimalTime message may be sent; at
	// most 7 days. Defaults to 24 hours.
	Window time.Duration `json:"window,omitempty"`
}

// PassedPolicy says what a Scheduled message does for a user whose time has already passed
// when its campaign is started: in a user-time-zone campaign started at 10:00 UTC for 09:00,
// the time has passed in London but not in New York.
type PassedPolicy string

const (
	// PassedSendNow sends at once to users whose time has passed. It is the default.
	PassedSendNow PassedPolicy = "send_now"
	// PassedSkip sends nothing to users whose time has passed.
	PassedSkip PassedPolicy = "skip"
	// PassedNextDay sends at the same time of day on the next day on which it is still to
	// come, on the user's clock (or TimeZone's).
	PassedNextDay PassedPolicy = "next_day"
)

// kind returns d's kind with the default applied.
func (d *Delivery) kind() DeliveryKind {
	if d.Kind == "" {
		return Manual
	}
	return d.Kind
}

func (d *Delivery) validate(ps *problems) {
	switch d.kind() {
	case Triggered:
		if d.Event == "" {
			ps.add("delivery.event", "required for a triggered message")
		}
	case Manual, Immediate, Scheduled, Recurring, OptimalTime:
		if d.Event != "" {
			ps.add("delivery.event", "only a triggered message has an event")
		}
	default:
		ps.add("delivery.kind", "unknown kind %q", d.Kind)
	}
	d.validateTrigger(ps)
	d.validateTiming(ps)
}

// maxWindow bounds Delivery.Window.
const maxWindow = 7 * 24 * time.Hour

// validateTiming checks the fields that say when a campaign is sent.
func (d *Delivery) validateTiming(ps *problems) {
	k := d.kind()
	used := map[DeliveryKind][]string{
		Scheduled:   {"at", "date", "time_of_day", "time_zone", "user_time_zone", "if_passed"},
		Recurring:   {"time_of_day", "time_zone", "user_time_zone", "weekdays", "day_of_month", "start", "end"},
		OptimalTime: {"time_of_day", "window"},
	}[k]
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"at", !d.At.IsZero()}, {"date", d.Date != ""}, {"time_of_day", d.TimeOfDay != ""},
		{"time_zone", d.TimeZone != ""}, {"user_time_zone", d.UserTimeZone}, {"if_passed", d.IfPassed != ""},
		{"weekdays", len(d.Weekdays) > 0}, {"day_of_month", d.DayOfMonth != 0},
		{"start", !d.Start.IsZero()}, {"end", !d.End.IsZero()}, {"window", d.Window != 0},
	} {
		if f.set && !slices.Contains(used, f.name) {
			ps.add("delivery."+f.name, "not used by a %s message", k)
		}
	}
	if d.TimeOfDay != "" {
		if _, err := wallclock.ParseTimeOfDay(d.TimeOfDay); err != nil {
			ps.add("delivery.time_of_day", "%v", err)
		}
	}
	if d.TimeZone != "" {
		if _, err := wallclock.ParseZone(d.TimeZone); err != nil {
			ps.add("delivery.time_zone", "%v", err)
		}
		if d.UserTimeZone {
			ps.add("delivery.time_zone", "give either time_zone or user_time_zone, not both")
		}
	}
	switch k {
	case Scheduled:
		switch {
		case d.At.IsZero() && d.Date == "":
			ps.add("delivery.at", "a scheduled message needs at (an instant) or date and time_of_day")
		case !d.At.IsZero() && (d.Date != "" || d.TimeOfDay != "" || d.TimeZone != "" || d.UserTimeZone):
			ps.add("delivery.at", "give either at, or date and time_of_day with a time zone, not both")
		case d.Date != "":
			if _, err := time.Parse(time.DateOnly, d.Date); err != nil {
				ps.add("delivery.date", "%q is not a date like 2006-01-02", d.Date)
			}
			if d.TimeOfDay == "" {
				ps.add("delivery.time_of_day", "required with date")
			}
		}
		if !slices.Contains([]PassedPolicy{"", PassedSendNow, PassedSkip, PassedNextDay}, d.IfPassed) {
			ps.add("delivery.if_passed", "unknown policy %q: want %s, %s or %s", d.IfPassed, PassedSendNow, PassedSkip, PassedNextDay)
		}
	case Recurring:
		if d.TimeOfDay == "" {
			ps.add("delivery.time_of_day", "required for a recurring message")
		}
		for i, wd := range d.Weekdays {
			if wd < time.Sunday || wd > time.Saturday {
				ps.add(fmt.Sprintf("delivery.weekdays[%d]", i), "%d is not a weekday (0 is Sunday, 6 Saturday)", wd)
			}
		}
		if d.DayOfMonth != 0 && len(d.Weekdays) > 0 {
			ps.add("delivery.day_of_month", "give either weekdays or day_of_month, not both")
		}
		if d.DayOfMonth < 0 || d.DayOfMonth > 31 {
			ps.add("delivery.day_of_month", "%d is not a day of the month (1 to 31)", d.DayOfMonth)
		}
		if !d.End.IsZero() && !d.End.After(d.Start) {
			ps.add("delivery.end", "not after start")
		}
	case OptimalTime:
		if d.Window < 0 || d.Window > maxWindow {
			ps.add("delivery.window", "%v is not between 0 and %v", d.Window, maxWindow)
		}
	}
}

// occursOn reports whether a Recurring job has an occurrence on day.
func (d *Delivery) occursOn(day time.Time) bool {
	switch {
	case len(d.Weekdays) > 0:
		return slices.Contains(d.Weekdays, day.Weekday())
	case d.DayOfMonth > 0:
		last := time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
		return day.Day() == min(d.DayOfMonth, last)
	default:
		return true
	}
}

// nextOccurrence returns the first occurrence day of a Recurring job after day.
func (d *Delivery) nextOccurrence(day time.Time) time.Time {
	for day = day.AddDate(0, 0, 1); !d.occursOn(day); day = day.AddDate(0, 0, 1) {
	}
	return day
}

// MarshalJSON writes d with its durations as strings such as "2h" or "7d", as an Audience's
// are (see [Duration]).
func (d Delivery) MarshalJSON() ([]byte, error) {
	type plain Delivery
	return json.Marshal(struct {
		plain
		Delay  Duration `json:"delay,omitempty"`
		Window Duration `json:"window,omitempty"`
	}{plain(d), Duration(d.Delay), Duration(d.Window)})
}

// UnmarshalJSON reads d's JSON form, whose durations are strings such as "2h" or "7d"; a number
// is read as nanoseconds, the form of messages saved before durations were strings.
func (d *Delivery) UnmarshalJSON(b []byte) error {
	type plain Delivery
	v := struct {
		*plain
		Delay  jsonDuration `json:"delay"`
		Window jsonDuration `json:"window"`
	}{plain: (*plain)(d)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d.Delay, d.Window = time.Duration(v.Delay), time.Duration(v.Window)
	return nil
}

// MarshalJSON writes c with Per as a string such as "24h" or "7d".
func (c Cap) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Max int      `json:"max"`
		Per Duration `json:"per"`
	}{c.Max, Duration(c.Per)})
}

// UnmarshalJSON reads c's JSON form, whose Per is a string such as "24h" or "7d"; a number is
// read as nanoseconds.
func (c *Cap) UnmarshalJSON(b []byte) error {
	var v struct {
		Max int          `json:"max"`
		Per jsonDuration `json:"per"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	c.Max, c.Per = v.Max, time.Duration(v.Per)
	return nil
}

// jsonDuration is a duration read from JSON as a string (see [Duration]) or as a number of
// nanoseconds.
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*d = jsonDuration(n)
		return nil
	}
	var s Duration
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = jsonDuration(s)
	return nil
}
