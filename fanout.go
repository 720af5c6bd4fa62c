package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// fanOutPageSize is how many users a fan-out reads, and enqueues deliveries for, at a time:
// all it holds in memory.
const fanOutPageSize = 1000

// What OptimalTime messages learn from: a user's events in the 28 days before the start, if
// there are at least 3 of them.
const (
	optimalLookback  = 28 * 24 * time.Hour
	optimalMinEvents = 3
)

// fanOut runs one page of a due campaign fan-out, if one is due, and reports whether it did.
// The dispatcher calls it between claims, so deliveries and fan-outs take turns.
func (s *Sender) fanOut(ctx context.Context) bool {
	// Leasing is a write; most of the time no fan-out is due, which a read, or what the last
	// one said, can tell.
	now := s.clock.Now()
	next, due, err := s.nextFanOutDue(ctx, now)
	if err == nil && (!due || next.After(now)) {
		return false
	}
	var c *Campaign
	if err == nil {
		c, err = s.store.LeaseCampaign(ctx, now, s.id, s.lease)
	}
	if err == nil && c != nil {
		err = s.fanOutPage(ctx, c)
	}
	if err != nil && ctx.Err() == nil {
		s.log.LogAttrs(ctx, slog.LevelError, "webhook: campaign fan-out; it resumes from its last checkpoint when its lease expires",
			slog.String("error", err.Error()))
	}
	return err == nil && c != nil
}

// fanOutWait shortens the dispatcher's idle wait to the time the next fan-out is due, and to
// the time it must next read it (see nextFanOutDue).
func (s *Sender) fanOutWait(ctx context.Context, wait time.Duration) time.Duration {
	now := s.clock.Now()
	next, ok, err := s.nextFanOutDue(ctx, now)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "webhook: find next due campaign", slog.String("error", err.Error()))
		return wait
	}
	if ok {
		wait = min(wait, next.Sub(now))
	}
	return min(wait, s.next.read.Add(s.poll).Sub(now))
}

// nextFanOut is what the dispatcher last read of Store.NextCampaignDue.
type nextFanOut struct {
	at   time.Time // when the next fan-out is due, if ok
	ok   bool      // whether one is to come
	read time.Time // when they were read; zero if they must be read again
}

// nextFanOutDue returns when the next campaign fan-out is due, and false if none is to come,
// as Store.NextCampaignDue said when the dispatcher last read it, which it reads again: after
// a wake-up (see Sender.wake), which this Sender's campaign changes and a Notifier's
// notifications send; once the time it said has come, so after every fan-out (fanOut runs
// one only then); after an error; and once PollInterval has passed, for the campaigns that
// other Senders start or resume without waking this one. The dispatcher alone calls it.
func (s *Sender) nextFanOutDue(ctx context.Context, now time.Time) (time.Time, bool, error) {
	n := &s.next
	if s.recheck.Swap(false) || n.ok && !n.at.After(now) || now.Sub(n.read) >= s.poll {
		at, ok, err := s.store.NextCampaignDue(ctx)
		if err != nil {
			*n = nextFanOut{}
			return time.Time{}, false, err
		}
		*n = nextFanOut{at: at, ok: ok, read: now}
	}
	return n.at, n.ok, nil
}

// fanOutPage enqueues the deliveries of a leased campaign to the next page of users, then
// records its progress.
func (s *Sender) fanOutPage(ctx context.Context, c *Campaign) error {
	m, err := s.store.Message(ctx, c.MessageID, c.MessageVersion)
	if err != nil {
		return fmt.Errorf("campaign %q: %w", c.MessageID, err)
	}
	p, err := newPlan(&m.Delivery, c)
	if err != nil {
		return fmt.Errorf("campaign %q: %w", c.MessageID, err)
	}
	users, err := s.store.Users(ctx, c.After, fanOutPageSize)
	if err != nil {
		return fmt.Errorf("campaign %q: list users: %w", c.MessageID, err)
	}
	now := s.clock.Now()
	occurrence := fmt.Sprintf("campaign:%d:%s", c.Run, c.Occurrence)
	jobs := make([]*Job, 0, len(users))
	for _, u := range users {
		in, err := s.inAudience(ctx, m, u, now)
		if err != nil {
			return fmt.Errorf("campaign %q: audience of %q: %w", c.MessageID, u.ID, err)
		}
		if !in {
			continue
		}
		due, ok, err := s.dueAt(ctx, p, u)
		if err != nil {
			return fmt.Errorf("campaign %q: due time of %q: %w", c.MessageID, u.ID, err)
		}
		if ok {
			j := s.newJob(m, u.ID, occurrence, now, nil)
			j.DueAt = due
			jobs = append(jobs, j)
		}
	}
	if err := s.store.Enqueue(ctx, jobs); err != nil {
		return fmt.Errorf("campaign %q: enqueue: %w", c.MessageID, err)
	}
	if len(users) == fanOutPageSize {
		c.After = users[len(users)-1].ID
	} else {
		c.After, c.NextAt = "", time.Time{}
		if m.Delivery.kind() == Recurring {
			// Skip the occurrences that passed everywhere while the fan-out could not run.
			p.start = later(p.start, now)
			c.Occurrence, c.NextAt = p.from(p.day.AddDate(0, 0, 1))
		}
	}
	saved, err := s.store.Checkpoint(ctx, c)
	if err != nil {
		return fmt.Errorf("campaign %q: checkpoint: %w", c.MessageID, err)
	}
	// The campaign may have been paused or cancelled while this page was enqueued, after
	// its pending deliveries were held or cancelled: do it again for this page's.
	switch saved.State {
	case CampaignPaused:
		_, err = s.store.HoldJobs(ctx, c.MessageID)
	case CampaignCancelled:
		err = s.cancelJobs(ctx, c.MessageID)
	}
	return err
}

// plan computes the due times of one occurrence of a campaign.
type plan struct {
	d      *Delivery
	launch time.Time              // the campaign's start
	zone   *time.Location         // nil for each user's own
	day    time.Time              // the occurrence's day, at midnight UTC, for wall-clock times
	tod    time.Duration          // the time of day
	start  time.Time              // when a Recurring message's occurrences begin
	dues   map[*time.Location]due // by time zone, worked out once per page
}

func newPlan(d *Delivery, c *Campaign) (*plan, error) {
	p := &plan{d: d, launch: c.StartedAt, dues: map[*time.Location]due{}}
	var err error
	if !d.UserTimeZone && d.kind() != OptimalTime {
		if p.zone, err = parseZone(d.TimeZone); err != nil {
			return nil, err
		}
	}
	if d.TimeOfDay != "" {
		if p.tod, err = parseTimeOfDay(d.TimeOfDay); err != nil {
			return nil, err
		}
	}
	switch d.kind() {
	case Scheduled:
		if !d.At.IsZero() {
			p.day = dateOf(d.At, time.UTC)
			p.tod = d.At.Sub(p.day)
		} else if p.day, err = time.Parse(time.DateOnly, d.Date); err != nil {
			return nil, err
		}
	case Recurring:
		p.start = d.Start
		if p.start.Before(p.launch) {
			p.start = p.launch
		}
		if c.Occurrence != "" {
			if p.day, err = time.Parse(time.DateOnly, c.Occurrence); err != nil {
				return nil, fmt.Errorf("occurrence %q: %w", c.Occurrence, err)
			}
		}
	}
	return p, nil
}

// first returns the campaign's first occurrence and when its fan-out is due.
func (p *plan) first() (string, time.Time) {
	switch p.d.kind() {
	case Scheduled:
		return "", later(p.fanOutAt(p.day), p.launch)
	case Recurring:
		return p.from(dateOf(p.start, time.UTC).AddDate(0, 0, -1))
	}
	return "", p.launch
}

// from returns the first occurrence of a Recurring message on or after day that is due, in
// some time zone, at or after the start, and when its fan-out is due; or "" and the zero
// time if the end comes first.
func (p *plan) from(day time.Time) (string, time.Time) {
	if !p.d.occursOn(day) {
		day = p.d.nextOccurrence(day)
	}
	for {
		last := day.Add(p.tod + maxZoneBehind)
		if p.zone != nil {
			last = wallClock(day, p.tod, p.zone)
		}
		if !last.Before(p.start) {
			break
		}
		day = p.d.nextOccurrence(day)
	}
	at := p.fanOutAt(day)
	if !p.d.End.IsZero() && !at.Before(p.d.End) {
		return "", time.Time{}
	}
	return day.Format(time.DateOnly), later(at, p.launch)
}

// fanOutAt returns when the fan-out for day is due: at the time itself in a fixed zone, and
// when it comes in the first time zone for each user's own.
func (p *plan) fanOutAt(day time.Time) time.Time {
	if p.zone != nil {
		return wallClock(day, p.tod, p.zone)
	}
	return day.Add(p.tod - maxZoneAhead)
}

// dueAt returns when a user's delivery of the occurrence is due, and false if the user gets
// none.
func (s *Sender) dueAt(ctx context.Context, p *plan, u User) (time.Time, bool, error) {
	switch p.d.kind() {
	case Scheduled, Recurring:
		loc := p.zone
		if loc == nil {
			loc = s.location(u)
		}
		d, ok := p.dues[loc]
		if !ok {
			d = p.dueIn(loc)
			p.dues[loc] = d
		}
		return d.at, d.ok, nil
	case OptimalTime:
		t, err := s.optimalTime(ctx, p, u.ID, s.location(u))
		return t, err == nil, err
	}
	return p.launch, true, nil
}

// due is when a delivery is due, and whether there is one.
type due struct {
	at time.Time
	ok bool
}

// dueIn returns when a Scheduled or Recurring occurrence is due on the clocks of loc: the
// same for every user there.
func (p *plan) dueIn(loc *time.Location) due {
	t := wallClock(p.day, p.tod, loc)
	if p.d.kind() == Recurring {
		return due{t, !t.Before(p.start) && (p.d.End.IsZero() || t.Before(p.d.End))}
	}
	switch {
	case !t.Before(p.launch):
		return due{t, true}
	case p.d.IfPassed == PassedSkip:
		return due{}
	case p.d.IfPassed == PassedNextDay:
		return due{nextWallClock(p.day.AddDate(0, 0, 1), p.tod, loc, p.launch), true}
	}
	return due{p.launch, true}
}

// optimalTime returns the time within the window at which the user was most often active,
// or the fallback time if the user has too few events.
func (s *Sender) optimalTime(ctx context.Context, p *plan, userID string, loc *time.Location) (time.Time, error) {
	until := p.launch.Add(orDefault(p.d.Window, 24*time.Hour))
	quarters, err := s.store.EventsByQuarterHour(ctx, userID, p.launch.Add(-optimalLookback), p.launch)
	if err != nil {
		return time.Time{}, err
	}
	// The events' local hours, taking the offset at the start for all of them.
	var byHour [24]int
	total, off := 0, offset(p.launch, loc)/60
	for i, n := range quarters {
		byHour[((i*15+off)%1440+1440)%1440/60] += n
		total += n
	}
	if total < optimalMinEvents {
		if p.d.TimeOfDay != "" {
			if t := nextWallClock(dateOf(p.launch, loc), p.tod, loc, p.launch); t.Before(until) {
				return t, nil
			}
		}
		return p.launch, nil
	}
	best, most := p.launch, byHour[p.launch.In(loc).Hour()]
	for t := nextLocalHour(p.launch, loc); t.Before(until); t = nextLocalHour(t, loc) {
		if n := byHour[t.In(loc).Hour()]; n > most {
			best, most = t, n
		}
	}
	return best, nil
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
