package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookline/webhook/internal/wallclock"
)

// fanOutPageSize is how many users a fan-out reads, and enqueues jobs for, at a time:
// all it holds in memory.
const fanOutPageSize = 1000

// firstPageSize is how many users the first page of a fan-out reads: few, so that its jobs
// are enqueued, and the workers start on them, soon after the campaign starts. A durable
// Store takes tens of milliseconds to enqueue a full page, during which nothing of the
// campaign can be sent.
const firstPageSize = 100

// What OptimalTime messages learn from: a user's events in the 28 days before the start, if
// there are at least 3 of them.
const (
	optimalLookback  = 28 * 24 * time.Hour
	optimalMinEvents = 3
)

// fanOuter runs campaign fan-outs for the dispatcher, a page at a time between claims. Only
// the dispatcher's goroutine calls it.
type fanOuter struct {
	store    Store
	clock    Clock
	log      *slog.Logger
	messages *messageCache
	zones    *zones
	id       string // the lease owner
	lease    time.Duration
	poll     time.Duration
	obs      *observer
	// next is when the next fan-out is due, as the Store last said (zero if none is to
	// come), and read when it said so (zero if it must be asked again).
	next, read time.Time
}

// step runs one page of a due campaign fan-out, if one is due, and reports whether it did.
// Leasing is a write, and most of the time no fan-out is due, which what the Store said last
// can tell: it asks again when recheck is set (this Sender's campaign changes and a
// Notifier's notifications wake it with it), once the time it said has come (so after every
// fan-out), after an error, and once PollInterval has passed, for the campaigns that other
// Senders start or resume without waking this one.
func (f *fanOuter) step(ctx context.Context, recheck bool) bool {
	now := f.clock.Now()
	if !recheck && !f.read.IsZero() && (f.next.IsZero() || f.next.After(now)) && now.Sub(f.read) < f.poll {
		return false
	}
	res, err := f.store.LeaseCampaign(ctx, LeaseCampaignParams{Now: now, Owner: f.id, Lease: f.lease})
	f.next, f.read = res.NextDue, now // after an error: ask again after PollInterval
	if err == nil && res.Campaign != nil {
		if err = f.page(ctx, res.Campaign); err == nil {
			f.read = time.Time{} // another fan-out may be due: ask again at once
		}
	}
	if err != nil && ctx.Err() == nil {
		f.log.LogAttrs(ctx, slog.LevelError, "webhook: campaign fan-out; it resumes from its last checkpoint when its lease expires",
			slog.String("error", err.Error()))
	}
	return err == nil && res.Campaign != nil
}

// wait shortens the dispatcher's idle wait to the time the next fan-out is due, and to the
// time step must next ask the Store.
func (f *fanOuter) wait(_ context.Context, now time.Time, wait time.Duration) time.Duration {
	if !f.next.IsZero() {
		wait = min(wait, f.next.Sub(now))
	}
	return min(wait, f.read.Add(f.poll).Sub(now))
}

// page enqueues the jobs of a leased campaign for the next page of users, then records its
// progress.
func (f *fanOuter) page(ctx context.Context, c *Campaign) error {
	cm, err := f.messages.get(ctx, c.MessageID, c.MessageVersion)
	if err != nil {
		return fmt.Errorf("campaign %q: %w", c.MessageID, err)
	}
	m := cm.msg
	p, err := newPlan(&m.Delivery, c)
	if err != nil {
		return fmt.Errorf("campaign %q: %w", c.MessageID, err)
	}
	now := f.clock.Now()
	limit := fanOutPageSize
	if c.After == "" {
		limit = firstPageSize
	}
	users, selected, err := f.users(ctx, cm.audience, c.After, limit, now)
	if err != nil {
		return fmt.Errorf("campaign %q: list users: %w", c.MessageID, err)
	}
	occurrence := fmt.Sprintf("campaign:%d:%s", c.Run, c.Occurrence)
	jobs := make([]*Job, 0, len(users))
	for i := range users {
		u := &users[i]
		if !selected {
			in, err := cm.inAudience(ctx, f.store, u, now)
			if err != nil {
				return fmt.Errorf("campaign %q: audience of %q: %w", c.MessageID, u.ID, err)
			}
			if !in {
				continue
			}
		}
		due, ok, err := f.dueAt(ctx, p, u)
		if err != nil {
			return fmt.Errorf("campaign %q: due time of %q: %w", c.MessageID, u.ID, err)
		}
		if ok {
			j := newJob(m, u.ID, occurrence, now, nil)
			j.DueAt, j.Trace = due, c.Trace
			jobs = append(jobs, j)
		}
	}
	if jobs, err = assignVariants(ctx, f.store, jobs, map[string]*Message{m.ID: m}); err != nil {
		return fmt.Errorf("campaign %q: %w", c.MessageID, err)
	}
	res, err := f.store.Enqueue(ctx, EnqueueParams{Jobs: jobs})
	if err != nil {
		return fmt.Errorf("campaign %q: enqueue: %w", c.MessageID, err)
	}
	f.obs.tel.recordCampaignJobs(ctx, c.MessageID, enqueued(jobs, res))
	progress := *c
	if len(users) == limit {
		progress.After = users[len(users)-1].ID
	} else {
		progress.After, progress.NextAt = "", time.Time{}
		if m.Delivery.kind() == Recurring {
			// Skip the occurrences that passed everywhere while the fan-out could not run.
			p.start = later(p.start, now)
			progress.Occurrence, progress.NextAt = p.from(p.day.AddDate(0, 0, 1))
		}
	}
	saved, err := changeCampaign(ctx, f.store, f.obs, c.MessageID, func(cur *Campaign) (*Campaign, error) {
		if cur == nil || cur.LeaseOwner != f.id || cur.Run != c.Run {
			return nil, ErrLeaseLost
		}
		cur.MessageVersion, cur.Occurrence, cur.After, cur.NextAt = progress.MessageVersion, progress.Occurrence, progress.After, progress.NextAt
		cur.LeaseOwner, cur.LeaseExpiresAt = "", time.Time{}
		return cur, nil
	})
	if err != nil {
		return fmt.Errorf("campaign %q: checkpoint: %w", c.MessageID, err)
	}
	// The campaign may have been paused or cancelled while this page was enqueued, after
	// its pending jobs were held or cancelled: do it again for this page's.
	switch saved.State {
	case CampaignPaused:
		_, err = f.store.UpdateJobs(ctx, holdJobs(c.MessageID))
	case CampaignCancelled:
		p := cancelJobs(c.MessageID, now)
		var cancelled []*Job
		cancelled, err = f.store.UpdateJobs(ctx, p)
		f.obs.cancelled(ctx, cancelled, p.Reason, now)
	}
	return err
}

// users returns the next page of up to limit users after after for a fan-out: those in the
// audience a (nil for everyone) at now, with selected set, if the Store is an
// [AudienceStore] that can evaluate a; else a page of every user, whose audience the caller
// must check.
func (f *fanOuter) users(ctx context.Context, a *audienceNode, after string, limit int, now time.Time) (users []User, selected bool, err error) {
	if as, ok := f.store.(AudienceStore); ok && a != nil {
		users, err := as.AudienceUsers(ctx, AudienceQuery{Filter: a.filter(now), After: after, Limit: limit})
		if !errors.Is(err, ErrUnsupportedFilter) {
			return users, true, err
		}
	}
	users, err = f.store.Users(ctx, UserQuery{After: after, Limit: limit})
	return users, a == nil, err
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
		if p.zone, err = wallclock.ParseZone(d.TimeZone); err != nil {
			return nil, err
		}
	}
	if d.TimeOfDay != "" {
		if p.tod, err = wallclock.ParseTimeOfDay(d.TimeOfDay); err != nil {
			return nil, err
		}
	}
	switch d.kind() {
	case Scheduled:
		if !d.At.IsZero() {
			p.day = wallclock.Date(d.At, time.UTC)
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
		return p.from(wallclock.Date(p.start, time.UTC).AddDate(0, 0, -1))
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
		last := day.Add(p.tod + wallclock.MaxBehind)
		if p.zone != nil {
			last = wallclock.At(day, p.tod, p.zone)
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
		return wallclock.At(day, p.tod, p.zone)
	}
	return day.Add(p.tod - wallclock.MaxAhead)
}

// dueAt returns when a user's job of the occurrence is due, and false if the user gets
// none.
func (f *fanOuter) dueAt(ctx context.Context, p *plan, u *User) (time.Time, bool, error) {
	switch p.d.kind() {
	case Scheduled, Recurring:
		loc := p.zone
		if loc == nil {
			loc = f.zones.of(u)
		}
		d, ok := p.dues[loc]
		if !ok {
			d = p.dueIn(loc)
			p.dues[loc] = d
		}
		return d.at, d.ok, nil
	case OptimalTime:
		t, err := f.optimalTime(ctx, p, u.ID, f.zones.of(u))
		return t, err == nil, err
	}
	return p.launch, true, nil
}

// due is when a job is due, and whether there is one.
type due struct {
	at time.Time
	ok bool
}

// dueIn returns when a Scheduled or Recurring occurrence is due on the clocks of loc: the
// same for every user there.
func (p *plan) dueIn(loc *time.Location) due {
	t := wallclock.At(p.day, p.tod, loc)
	if p.d.kind() == Recurring {
		return due{t, !t.Before(p.start) && (p.d.End.IsZero() || t.Before(p.d.End))}
	}
	switch {
	case !t.Before(p.launch):
		return due{t, true}
	case p.d.IfPassed == PassedSkip:
		return due{}
	case p.d.IfPassed == PassedNextDay:
		return due{wallclock.Next(p.day.AddDate(0, 0, 1), p.tod, loc, p.launch), true}
	}
	return due{p.launch, true}
}

// optimalTime returns the time within the window at which the user was most often active,
// or the fallback time if the user has too few events. Each event counts at its hour on the
// user's clock at the time it happened, so a daylight-saving change in the lookback moves no
// event to another hour.
func (f *fanOuter) optimalTime(ctx context.Context, p *plan, userID string, loc *time.Location) (time.Time, error) {
	until := p.launch.Add(orDefault(p.d.Window, 24*time.Hour))
	events, err := f.store.Events(ctx, EventQuery{UserID: userID, Since: p.launch.Add(-optimalLookback), Until: p.launch})
	if err != nil {
		return time.Time{}, err
	}
	var byHour [24]int
	total := 0
	for _, e := range events {
		if e.Time.Before(p.launch) { // Until is included; the start is not
			byHour[e.Time.In(loc).Hour()]++
			total++
		}
	}
	if total < optimalMinEvents {
		if p.d.TimeOfDay != "" {
			if t := wallclock.Next(wallclock.Date(p.launch, loc), p.tod, loc, p.launch); t.Before(until) {
				return t, nil
			}
		}
		return p.launch, nil
	}
	best, most := p.launch, byHour[p.launch.In(loc).Hour()]
	for t := wallclock.NextHour(p.launch, loc); t.Before(until); t = wallclock.NextHour(t, loc) {
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

// enqueued counts the jobs that an Enqueue that returned res saved: those the Store holds
// under their own IDs.
func enqueued(jobs []*Job, res EnqueueResult) int {
	n := 0
	for i, id := range res.JobIDs {
		if id == jobs[i].ID {
			n++
		}
	}
	return n
}
