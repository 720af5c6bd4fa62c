package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Trigger reports that a user did something. It saves the event and, for every message
// Triggered by an event of that name whose Delivery.Where the event's parameters meet and
// whose Audience includes the user (event criteria count this event), enqueues a job to the
// user (due after the message's Delivery.Delay; none if Delivery.Once and the user had one),
// in one Store change where the Store can make it atomic. A started Sender is woken at once
// to send them. Then it cancels the user's pending jobs of messages whose Delivery.Unless
// names the event.
//
// A user that was never identified is a user with only an ID. An event with an ID that the
// Store already holds for the user is saved once and enqueues nothing twice, so calling
// Trigger again with the same event is safe. Which messages an event triggers is read from a
// catalog of messages that the Sender reads again at most once per Config.PollInterval: a
// message saved or a campaign paused by another Sender sharing the Store takes effect here
// within that time (and a job it enqueues meanwhile for a paused campaign is held when it
// comes due). Trigger returns an error wrapping ErrInvalid if
// e has no UserID or Name or its Params are not JSON values, and the Store's error if the
// event could not be saved or an audience could not be checked, in which case nothing was
// saved or enqueued, or if jobs could not be cancelled.
func (s *Sender) Trigger(ctx context.Context, e Event) error {
	if err := s.made(); err != nil {
		return err
	}
	return s.trigger(ctx, s.store, false, []Event{e})
}

// TriggerMany is the bulk form of [Sender.Trigger], for imports and for apps that report
// events in batches: it saves every event and enqueues every job they trigger in one Store
// change, where Trigger makes one change per event. The events count in each other's
// audiences in the order given, as they would with one Trigger each. It returns a
// [*ValidationError] listing the problems of every event, with paths such as
// "events[3].name", and saves nothing if there is one.
func (s *Sender) TriggerMany(ctx context.Context, events []Event) error {
	if err := s.made(); err != nil {
		return err
	}
	return s.trigger(ctx, s.store, false, slices.Clone(events))
}

// trigger is TriggerMany reading and writing store, the Sender's Store or, inTx, a view of it
// bound to the app's transaction, whose cancellations are not reported to the hooks: the
// Sender cannot tell whether they commit. It fills in and normalizes the events in place:
// the caller passes a slice of its own, not the app's.
func (s *Sender) trigger(ctx context.Context, store Store, inTx bool, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	now := s.clock.Now()
	var ps problems
	for i := range events {
		e := &events[i]
		path := ""
		if len(events) > 1 {
			path = fmt.Sprintf("events[%d].", i)
		}
		if e.UserID == "" {
			ps.add(path+"user_id", "required")
		}
		if e.Name == "" {
			ps.add(path+"name", "required")
		}
		params, err := normalizeMap(e.Params, 0)
		if err != nil {
			ps.add(path+"params", "%v", err)
		}
		e.Params = params
		if e.Time.IsZero() {
			e.Time = now
		}
		if e.ID == "" {
			e.ID = newID("evt", now)
		}
	}
	if len(ps) > 0 {
		return ps.err(triggered(events))
	}
	cat, err := s.catalog.get(ctx)
	if err != nil {
		return opErr(err, "trigger %s", triggered(events))
	}
	t := &triggering{s: s, store: store, cat: cat, now: now, trace: traceOf(ctx)}
	var jobs []*Job
	for i := range events {
		js, err := t.jobs(ctx, events[:i+1])
		if err != nil {
			return opErr(err, "trigger %s", triggered(events))
		}
		if jobs == nil {
			jobs = js // one event's, most often: no copy
		} else {
			jobs = append(jobs, js...)
		}
	}
	if jobs, err = assignVariants(ctx, store, jobs, t.variants); err != nil {
		return opErr(err, "trigger %s", triggered(events))
	}
	if _, err := store.Enqueue(ctx, EnqueueParams{Events: events, Jobs: jobs}); err != nil {
		return opErr(err, "trigger %s", triggered(events))
	}
	for _, e := range events {
		if !cat.unless[e.Name] {
			continue // no message's Delivery.Unless names it
		}
		p := UpdateJobsParams{
			// Jobs created no later than now, in a Store that keeps microseconds too.
			Filter: JobFilter{UserID: e.UserID, Unless: e.Name, CreatedBefore: now.Truncate(time.Microsecond).Add(time.Microsecond)},
			From:   []JobState{JobScheduled, JobHeld}, To: JobCancelled,
			Now: now, Reason: fmt.Sprintf("cancelled by event %q", e.Name),
		}
		cancelled, err := store.UpdateJobs(ctx, p)
		if err != nil {
			return opErr(err, "trigger %s: cancel jobs", triggered(events))
		}
		for _, j := range cancelled {
			s.log.LogAttrs(ctx, slog.LevelInfo, "webhook: job cancelled",
				slog.String("job_id", j.ID), slog.String("message_id", j.MessageID),
				slog.String("user_id", j.UserID), slog.String("event", e.Name))
		}
		if !inTx {
			s.obs.cancelled(ctx, cancelled, p.Reason, now)
		}
	}
	if len(jobs) > 0 {
		s.disp.wakeForJobs()
	}
	return nil
}

// triggered names the events of one call of trigger in its errors.
func triggered(events []Event) string {
	if len(events) > 1 {
		return fmt.Sprintf("%d events", len(events))
	}
	return fmt.Sprintf("event %q", events[0].Name)
}

// triggering is one call of trigger: what it has read from the Store, read once. Its maps are
// made when first written to: most calls write none.
type triggering struct {
	s        *Sender
	store    Store
	cat      *catalogSnapshot
	now      time.Time
	users    map[string]*User    // by ID
	variants map[string]*Message // the messages of the jobs that have Variants, by ID
	trace    map[string]string   // the trace context of the jobs, from the caller's span
}

// jobs returns the jobs that the last of events enqueues: held for a message whose campaign
// is paused, none for one whose campaign is cancelled. The events before it are those of the
// same call, which its audiences count as if they were saved.
func (t *triggering) jobs(ctx context.Context, events []Event) ([]*Job, error) {
	e := &events[len(events)-1]
	msgs := t.cat.triggered[e.Name]
	var jobs []*Job
	for _, m := range msgs {
		if m.Disabled {
			continue
		}
		cm, ok := t.s.messages.compiled.get(m.ID, m.Version)
		if !ok {
			var err error
			if cm, err = t.s.messages.add(ctx, m); err != nil {
				return nil, err
			}
		}
		u := t.users[e.UserID]
		if cm.audience != nil && u == nil {
			loaded, err := loadUser(ctx, t.store, e.UserID)
			if err != nil {
				return nil, err
			}
			u = &loaded
			if t.users == nil {
				t.users = map[string]*User{}
			}
			t.users[e.UserID] = u
		}
		if ok, err := cm.triggeredBy(ctx, t.store, events, u, t.now); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		drop, hold := t.cat.campaignRule(m)
		if drop {
			continue
		}
		j := newJob(m, e.UserID, "event:"+e.ID, t.now, e.Params)
		j.Event = &Event{ID: e.ID, UserID: e.UserID, Name: e.Name, Time: e.Time}
		j.Trace = t.trace
		if hold {
			j.State = JobHeld
		}
		m.Delivery.onTrigger(j, e, t.now)
		jobs = append(jobs, j)
		if len(m.Variants) > 0 { // assignVariants looks up no other message
			if t.variants == nil {
				t.variants = map[string]*Message{}
			}
			t.variants[m.ID] = m
		}
	}
	return jobs, nil
}

// campaignRule says what the campaign of a Triggered message does to a job that an event
// triggers: drop it if the campaign is cancelled, or paused with Delivery.DropWhilePaused;
// hold it if the campaign is paused otherwise.
func (c *catalogSnapshot) campaignRule(m *Message) (drop, hold bool) {
	switch c.states[m.ID] {
	case CampaignCancelled:
		return true, false
	case CampaignPaused:
		return m.Delivery.DropWhilePaused, !m.Delivery.DropWhilePaused
	}
	return false, false
}

// validateTrigger adds the problems of d's trigger rules (Delay, Unless, Once, Cap) to ps.
func (d *Delivery) validateTrigger(ps *problems) {
	if d.kind() != Triggered {
		if d.Delay != 0 {
			ps.add("delivery.delay", "only a triggered message has a delay")
		}
		if d.Unless != "" {
			ps.add("delivery.unless", "only a triggered message has an unless event")
		}
		if d.Once {
			ps.add("delivery.once", "only a triggered message is limited to once per user")
		}
		if d.Cap != (Cap{}) {
			ps.add("delivery.cap", "only a triggered message has a cap")
		}
		if d.DropWhilePaused {
			ps.add("delivery.drop_while_paused", "only a triggered message receives events while paused")
		}
		return
	}
	if d.Cap != (Cap{}) {
		d.Cap.validate("delivery.cap.max", "delivery.cap.per", ps)
	}
	if d.Delay < 0 {
		ps.add("delivery.delay", "must not be negative, got %v", d.Delay)
	}
	switch {
	case d.Unless == "":
	case d.Unless == d.Event:
		ps.add("delivery.unless", "must differ from the event %q", d.Event)
	case d.Delay <= 0:
		ps.add("delivery.unless", "needs a delay: without one the delivery is due before %q can cancel it", d.Unless)
	}
}

// onTrigger applies d's Delay, Unless and Once to j, a job of d's message enqueued at now
// for event e.
func (d *Delivery) onTrigger(j *Job, e *Event, now time.Time) {
	if due := e.Time.Add(d.Delay); d.Delay > 0 && due.After(now) {
		j.DueAt = due
	}
	j.Unless = d.Unless
	if d.Once {
		j.Key = jobKey(j.MessageID, j.UserID, "once")
	}
}
