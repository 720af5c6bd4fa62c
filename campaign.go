package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// CampaignState is where a [Campaign] is in its life.
type CampaignState string

const (
	// CampaignRunning campaigns fan out when due and their jobs are sent.
	CampaignRunning CampaignState = "running"
	// CampaignPaused campaigns do not fan out, and their pending jobs are held.
	CampaignPaused CampaignState = "paused"
	// CampaignCancelled campaigns are over: their pending jobs were cancelled. Only a
	// new [Sender.StartCampaign] starts them again.
	CampaignCancelled CampaignState = "cancelled"
)

// Campaign is the state of the sending of a message to its whole audience (any message that
// is not Triggered), started by [Sender.StartCampaign]: its state, and the progress of its
// fan-out, the enqueuing of one job per user of the audience for each occurrence.
//
// A fan-out goes through the users in pages in ID order and records after each page the last
// user done, so that one interrupted by a crash resumes after the last page recorded; the
// job of a message to a user for an occurrence has one dedupe key, so a page done twice
// enqueues nothing twice.
type Campaign struct {
	// MessageID identifies the campaign and its message.
	MessageID string `json:"message_id"`
	// MessageVersion is the version of the message the campaign sends: the current one when
	// it was started.
	MessageVersion int `json:"message_version"`
	// Run counts the starts of the campaign, from 1; each run sends to everyone anew.
	Run int `json:"run"`
	// State is where the campaign is in its life.
	State CampaignState `json:"state"`
	// StartedAt is when the run was started: "now" for Immediate and OptimalTime messages,
	// and the time against which a Scheduled message's time is said to have passed.
	StartedAt time.Time `json:"started_at"`
	// Occurrence names the occurrence being fanned out: the day, as "2006-01-02", of a
	// Recurring message, and empty for other kinds.
	Occurrence string `json:"occurrence,omitempty"`
	// After is the ID of the last user whose job for Occurrence was enqueued; empty
	// before the first page.
	After string `json:"after,omitempty"`
	// NextAt is when the fan-out of Occurrence is due to start or go on; zero once the
	// campaign has no fan-out left to do.
	NextAt time.Time `json:"next_at,omitzero"`
	// LeaseOwner and LeaseExpiresAt hold the lease of a Sender running the fan-out.
	LeaseOwner     string    `json:"lease_owner,omitempty"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	// Rev is the campaign's revision in the Store, which sets it: every change to a
	// campaign is a compare-and-set on it (see [CampaignStore]).
	Rev int64 `json:"rev"`
	// Trace is the W3C trace context of the span that was active when the run was started,
	// or nil: the fan-out gives it to the run's jobs (see Job.Trace).
	Trace map[string]string `json:"trace,omitempty"`
}

// StartCampaign starts sending a message to its whole audience, as its Delivery says: at
// once (Immediate and Manual messages: the server-to-server start of a campaign), once at a
// time (Scheduled), at every occurrence (Recurring) or at each user's most active hour
// (OptimalTime). A started Sender fans it out when due; a Sender that is not started does
// nothing until it is.
//
// Starting is idempotent: a campaign is started once, so a call retried after a timeout sends
// nobody twice. Starting a campaign that was started before returns an error wrapping
// ErrCampaignStarted, and changes nothing; [Sender.RestartCampaign] starts a new run of one
// that finished or was cancelled, which sends to everyone again. A Triggered message is sent
// by its events, with a campaign that is running from the start: StartCampaign only starts
// again one that was cancelled.
//
// It returns an error wrapping ErrNotFound if there is no such message, and one wrapping
// ErrInvalid if the message is disabled, if its campaign is paused, or if a Recurring
// message has no occurrence left.
func (s *Sender) StartCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	return s.launch(ctx, messageID, false)
}

// RestartCampaign starts a new run of a campaign that finished its fan-out or was
// cancelled: it sends the message to its whole audience again, as [Sender.StartCampaign]
// does the first time. A campaign that was never started is started. It returns the errors
// of StartCampaign, and one wrapping ErrInvalid if the campaign is running with a fan-out
// still to do or if the message is Triggered (use StartCampaign to start a cancelled one
// again).
func (s *Sender) RestartCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	return s.launch(ctx, messageID, true)
}

// launch starts a campaign, or with restart a new run of one.
func (s *Sender) launch(ctx context.Context, messageID string, restart bool) error {
	op := "start"
	if restart {
		op = "restart"
	}
	m, err := loadMessage(ctx, s.store, messageID, 0)
	if err != nil {
		return opErr(err, "%s campaign %q", op, messageID)
	}
	if m.Disabled {
		return invalidf("webhook: %s campaign %q: the message is disabled", op, messageID)
	}
	triggered := m.Delivery.kind() == Triggered
	_, err = changeCampaign(ctx, s.store, s.obs, messageID, func(old *Campaign) (*Campaign, error) {
		switch {
		case triggered && restart:
			return nil, invalidf("a triggered message has no runs: start it if it was cancelled")
		case old != nil && old.State == CampaignPaused:
			return nil, invalidf("it is paused: resume it")
		case triggered && (old == nil || old.State == CampaignRunning):
			return nil, fmt.Errorf("%w: a triggered message is running from the start", ErrCampaignStarted)
		case triggered:
			old.State = CampaignRunning
			return old, nil
		case old != nil && !restart:
			return nil, fmt.Errorf("%w: run %d is %s", ErrCampaignStarted, old.Run, old.state())
		case old != nil && old.State == CampaignRunning && !old.NextAt.IsZero():
			return nil, invalidf("run %d is still fanning out", old.Run)
		}
		c := &Campaign{MessageID: m.ID, MessageVersion: m.Version, Run: 1, State: CampaignRunning, StartedAt: s.clock.Now(), Trace: traceOf(ctx)}
		if old != nil {
			c.Run = old.Run + 1
		}
		p, err := newPlan(&m.Delivery, c)
		if err != nil {
			return nil, err
		}
		c.Occurrence, c.NextAt = p.first()
		if c.NextAt.IsZero() {
			return nil, invalidf("no occurrence before the end")
		}
		return c, nil
	})
	if err != nil {
		return opErr(err, "%s campaign %q", op, messageID)
	}
	s.disp.wake()
	return nil
}

// state describes where c is: its State, or "finished" for a running campaign with no
// fan-out left to do.
func (c *Campaign) state() string {
	if c.State == CampaignRunning && c.NextAt.IsZero() {
		return "finished"
	}
	return string(c.State)
}

// Campaign returns the state of the campaign of a message, or an error wrapping ErrNotFound
// if it was never started.
func (s *Sender) Campaign(ctx context.Context, messageID string) (*Campaign, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	c, err := loadCampaign(ctx, s.store, messageID)
	if err == nil && c == nil {
		err = ErrNotFound
	}
	if err != nil {
		return nil, opErr(err, "campaign %q", messageID)
	}
	return c, nil
}

// PauseCampaign pauses a campaign: its fan-out stops after the page in progress and its
// pending jobs (every scheduled job of the message) are held, keeping their due times, until
// [Sender.ResumeCampaign]. Jobs being sent are not stopped. Pausing a paused campaign does
// nothing. It returns an error wrapping ErrNotFound if the campaign was never started, and
// one wrapping ErrInvalid if it was cancelled.
func (s *Sender) PauseCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	if err := s.setCampaignState(ctx, messageID, CampaignPaused); err != nil {
		return err
	}
	if _, err := s.store.UpdateJobs(ctx, holdJobs(messageID)); err != nil {
		return opErr(err, "pause campaign %q", messageID)
	}
	return nil
}

// ResumeCampaign resumes a paused campaign: its held jobs are due again at the times they
// had, and those whose time came during the pause are sent at once; so is the fan-out of an
// occurrence that came due during the pause. Resuming a running campaign does nothing. It
// returns the errors of [Sender.PauseCampaign].
func (s *Sender) ResumeCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	if err := s.setCampaignState(ctx, messageID, CampaignRunning); err != nil {
		return err
	}
	p := UpdateJobsParams{Filter: JobFilter{MessageID: messageID}, From: []JobState{JobHeld}, To: JobScheduled}
	if _, err := s.store.UpdateJobs(ctx, p); err != nil {
		return opErr(err, "resume campaign %q", messageID)
	}
	s.disp.wake()
	return nil
}

// CancelCampaign cancels a campaign: its fan-out stops after the page in progress, and its
// pending jobs (every scheduled or held job of the message) are cancelled, each logged as an
// attempt with Outcome Cancelled. Jobs being sent are not stopped. Cancelling a cancelled
// campaign cancels what is pending again. It returns an error wrapping ErrNotFound if the
// campaign was never started.
func (s *Sender) CancelCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	if err := s.setCampaignState(ctx, messageID, CampaignCancelled); err != nil {
		return err
	}
	p := cancelJobs(messageID, s.clock.Now())
	cancelled, err := s.store.UpdateJobs(ctx, p)
	if err != nil {
		return opErr(err, "cancel campaign %q", messageID)
	}
	s.obs.cancelled(ctx, cancelled, p.Reason, p.Now)
	return nil
}

// setCampaignState sets the state of a campaign that is not cancelled. A Triggered message's
// campaign, running from the start, is saved the first time its state is set.
func (s *Sender) setCampaignState(ctx context.Context, messageID string, state CampaignState) error {
	_, err := changeCampaign(ctx, s.store, s.obs, messageID, func(c *Campaign) (*Campaign, error) {
		if c == nil {
			m, err := loadMessage(ctx, s.store, messageID, 0)
			if err != nil || m.Delivery.kind() != Triggered {
				return nil, cmp.Or(err, ErrNotFound)
			}
			c = &Campaign{MessageID: m.ID, MessageVersion: m.Version, State: CampaignRunning, StartedAt: s.clock.Now()}
		}
		switch {
		case c.State == CampaignCancelled && state != CampaignCancelled:
			return nil, invalidf("it is %s", c.State)
		case c.State == state && c.Rev > 0:
			return nil, nil // nothing to change
		}
		c.State = state
		return c, nil
	})
	if err != nil {
		return opErr(err, "set campaign %q %s", messageID, state)
	}
	s.catalog.invalidate()
	return nil
}

// holdJobs are the parameters of UpdateJobs that hold a message's pending jobs.
func holdJobs(messageID string) UpdateJobsParams {
	return UpdateJobsParams{Filter: JobFilter{MessageID: messageID}, From: []JobState{JobScheduled}, To: JobHeld}
}

// cancelJobs are the parameters of UpdateJobs that cancel a message's pending jobs.
func cancelJobs(messageID string, now time.Time) UpdateJobsParams {
	return UpdateJobsParams{
		Filter: JobFilter{MessageID: messageID}, From: []JobState{JobScheduled, JobHeld}, To: JobCancelled,
		Now: now, Reason: "campaign cancelled",
	}
}

// loadCampaign returns the campaign of a message, or nil if it has none.
func loadCampaign(ctx context.Context, store CampaignStore, messageID string) (*Campaign, error) {
	cs, err := store.Campaigns(ctx, CampaignQuery{MessageIDs: []string{messageID}})
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return cs[0], nil
}

// changeCampaign changes the campaign of a message: change gets a copy of it as the Store
// has it (nil if it has none) and returns what to save in its place, or nil to save nothing.
// The save is a compare-and-set: if another change came first, change is called again on
// what that one saved. It returns what was saved, and change's error as it is, and reports
// a change of state to obs.
func changeCampaign(ctx context.Context, store CampaignStore, obs *observer, messageID string, change func(*Campaign) (*Campaign, error)) (*Campaign, error) {
	for {
		old, err := loadCampaign(ctx, store, messageID)
		if err != nil {
			return nil, err
		}
		var before Campaign // as old was, which change may modify
		if old != nil {
			before = *old
		}
		c, err := change(old)
		if err != nil || c == nil {
			return old, err
		}
		if old != nil {
			c.Rev = old.Rev
		}
		err = store.PutCampaign(ctx, c)
		if err == nil {
			obs.campaignChanged(&before, c)
		}
		if !errors.Is(err, ErrConflict) {
			return c, err
		}
	}
}
