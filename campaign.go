package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CampaignState is where a [Campaign] is in its life.
type CampaignState string

const (
	// CampaignRunning campaigns fan out when due and their deliveries are sent.
	CampaignRunning CampaignState = "running"
	// CampaignPaused campaigns do not fan out, and their pending deliveries are held.
	CampaignPaused CampaignState = "paused"
	// CampaignCancelled campaigns are over: their pending deliveries were cancelled. Only a
	// new [Sender.StartCampaign] starts them again.
	CampaignCancelled CampaignState = "cancelled"
)

// Campaign is the state of the sending of a message to its whole audience (any message that
// is not Triggered), started by [Sender.StartCampaign]: its state, and the progress of its
// fan-out, the enqueuing of one delivery per user of the audience for each occurrence.
//
// A fan-out goes through the users in pages in ID order and records after each page the last
// user done, so that one interrupted by a crash resumes after the last page recorded; the
// delivery of a message to a user for an occurrence has one dedupe key, so a page done twice
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
	// After is the ID of the last user whose delivery for Occurrence was enqueued; empty
	// before the first page.
	After string `json:"after,omitempty"`
	// NextAt is when the fan-out of Occurrence is due to start or go on; zero once the
	// campaign has no fan-out left to do.
	NextAt time.Time `json:"next_at,omitzero"`
	// LeaseOwner and LeaseExpiresAt hold the lease of a Sender running the fan-out.
	LeaseOwner     string    `json:"lease_owner,omitempty"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
}

// CampaignStore keeps campaigns, holds and releases the deliveries of paused ones, and counts
// users' events by time of day for OptimalTime messages.
type CampaignStore interface {
	// PutCampaign saves c, replacing the campaign with the same MessageID, lease included.
	PutCampaign(ctx context.Context, c *Campaign) error
	// Campaign returns the campaign of the given message, or ErrNotFound.
	Campaign(ctx context.Context, messageID string) (*Campaign, error)
	// SetCampaignState sets the State of the campaign of the given message, unless it is
	// CampaignCancelled, and returns the campaign as it is after the call (still cancelled,
	// if it was). It returns ErrNotFound if there is no such campaign.
	SetCampaignState(ctx context.Context, messageID string, state CampaignState) (*Campaign, error)
	// LeaseCampaign leases to owner until now+lease one campaign whose fan-out is due — in
	// state CampaignRunning, with a non-zero NextAt <= now, and with no lease, or a lease
	// that expired at or before now (whoever held it: a fan-out that failed is retried when
	// its lease expires) — and returns it with LeaseOwner and LeaseExpiresAt set: the one
	// with the earliest NextAt, ties broken by MessageID. It returns nil and no error if none
	// is due. It never leases a campaign to two owners whose leases overlap.
	LeaseCampaign(ctx context.Context, now time.Time, owner string, lease time.Duration) (*Campaign, error)
	// Checkpoint saves the fan-out progress of c (MessageVersion, Occurrence, After and
	// NextAt) and releases its lease, if the campaign is still leased to c.LeaseOwner (even
	// if the lease has expired). It returns the campaign as saved, whose State may differ
	// from c's: Checkpoint never changes it. It returns ErrLeaseLost, and saves nothing, if
	// the campaign is leased to another owner or to none, and ErrNotFound if there is no
	// such campaign.
	Checkpoint(ctx context.Context, c *Campaign) (*Campaign, error)
	// NextCampaignDue returns the earliest time at which a fan-out will be due: the NextAt of
	// a running campaign whose NextAt is not zero, or its LeaseExpiresAt if that is later.
	// It returns false if no fan-out is to come.
	NextCampaignDue(ctx context.Context) (time.Time, bool, error)
	// HoldJobs moves every JobScheduled job of the given message to JobHeld, keeping its
	// DueAt, and returns how many it moved. Held jobs are not claimed, are not due for
	// NextDue, and are cancelled by Cancel.
	HoldJobs(ctx context.Context, messageID string) (int, error)
	// ReleaseJobs moves every JobHeld job of the given message back to JobScheduled, with
	// the DueAt it had, and returns how many it moved.
	ReleaseJobs(ctx context.Context, messageID string) (int, error)
	// EventsByQuarterHour counts the events of a user whose Time is at or after since and
	// before until, by quarter hour of the UTC day: element i counts those whose time of day
	// in UTC is at or after i*15 minutes and before (i+1)*15.
	EventsByQuarterHour(ctx context.Context, userID string, since, until time.Time) ([96]int, error)
}

// StartCampaign starts sending a message to its whole audience, as its Delivery says: at
// once (Immediate and Manual messages: the server-to-server start of a campaign), once at a
// time (Scheduled), at every occurrence (Recurring) or at each user's most active hour
// (OptimalTime). A started Sender fans it out when due; a Sender that is not started does
// nothing until it is. Starting a campaign whose previous run has finished its fan-out, or
// was cancelled, starts a new run, which sends to everyone again.
//
// It returns an error wrapping ErrNotFound if there is no such message, and one wrapping
// ErrInvalid if the message is Triggered, if its campaign is paused or running with a
// fan-out still to do, or if a Recurring message has no occurrence left.
func (s *Sender) StartCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	m, err := s.store.Message(ctx, messageID, 0)
	if err != nil {
		return fmt.Errorf("webhook: start campaign %q: %w", messageID, err)
	}
	if m.Delivery.kind() == Triggered {
		return invalidf("webhook: start campaign %q: a triggered message is sent by events", messageID)
	}
	old, err := s.store.Campaign(ctx, messageID)
	switch {
	case errors.Is(err, ErrNotFound):
		old = &Campaign{}
	case err != nil:
		return fmt.Errorf("webhook: start campaign %q: %w", messageID, err)
	case old.State == CampaignPaused || old.State == CampaignRunning && !old.NextAt.IsZero():
		return invalidf("webhook: start campaign %q: it is %s", messageID, old.State)
	}
	c := &Campaign{MessageID: m.ID, MessageVersion: m.Version, Run: old.Run + 1, State: CampaignRunning, StartedAt: s.clock.Now()}
	p, err := newPlan(&m.Delivery, c)
	if err != nil {
		return fmt.Errorf("webhook: start campaign %q: %w", messageID, err)
	}
	c.Occurrence, c.NextAt = p.first()
	if c.NextAt.IsZero() {
		return invalidf("webhook: start campaign %q: no occurrence before the end", messageID)
	}
	if err := s.store.PutCampaign(ctx, c); err != nil {
		return fmt.Errorf("webhook: start campaign %q: %w", messageID, err)
	}
	s.wake()
	return nil
}

// Campaign returns the state of the campaign of a message, or an error wrapping ErrNotFound
// if it was never started.
func (s *Sender) Campaign(ctx context.Context, messageID string) (*Campaign, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	c, err := s.store.Campaign(ctx, messageID)
	if err != nil {
		return nil, fmt.Errorf("webhook: campaign %q: %w", messageID, err)
	}
	return c, nil
}

// PauseCampaign pauses a campaign: its fan-out stops after the page in progress and its
// pending deliveries (every scheduled delivery of the message) are held, keeping their due
// times, until [Sender.ResumeCampaign]. Deliveries being sent are not stopped. Pausing a
// paused campaign does nothing. It returns an error wrapping ErrNotFound if the campaign was
// never started, and one wrapping ErrInvalid if it was cancelled.
func (s *Sender) PauseCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	if err := s.setCampaignState(ctx, messageID, CampaignPaused); err != nil {
		return err
	}
	if _, err := s.store.HoldJobs(ctx, messageID); err != nil {
		return fmt.Errorf("webhook: pause campaign %q: %w", messageID, err)
	}
	return nil
}

// ResumeCampaign resumes a paused campaign: its held deliveries are due again at the times
// they had, and those whose time came during the pause are sent at once; so is the fan-out
// of an occurrence that came due during the pause. Resuming a running campaign does nothing.
// It returns the errors of [Sender.PauseCampaign].
func (s *Sender) ResumeCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	if err := s.setCampaignState(ctx, messageID, CampaignRunning); err != nil {
		return err
	}
	if _, err := s.store.ReleaseJobs(ctx, messageID); err != nil {
		return fmt.Errorf("webhook: resume campaign %q: %w", messageID, err)
	}
	s.wake()
	return nil
}

// CancelCampaign cancels a campaign: its fan-out stops after the page in progress, and its
// pending deliveries (every scheduled or held delivery of the message) are cancelled, each
// logged as an attempt with Outcome Cancelled. Deliveries being sent are not stopped.
// Cancelling a cancelled campaign cancels what is pending again. It returns an error
// wrapping ErrNotFound if the campaign was never started.
func (s *Sender) CancelCampaign(ctx context.Context, messageID string) error {
	if err := s.made(); err != nil {
		return err
	}
	if err := s.setCampaignState(ctx, messageID, CampaignCancelled); err != nil {
		return err
	}
	return s.cancelJobs(ctx, messageID)
}

func (s *Sender) setCampaignState(ctx context.Context, messageID string, state CampaignState) error {
	c, err := s.store.SetCampaignState(ctx, messageID, state)
	if err != nil {
		return fmt.Errorf("webhook: set campaign %q %s: %w", messageID, state, err)
	}
	if c.State != state {
		return invalidf("webhook: set campaign %q %s: it is %s", messageID, state, c.State)
	}
	return nil
}

// cancelJobs cancels the pending deliveries of a message and logs each as cancelled.
func (s *Sender) cancelJobs(ctx context.Context, messageID string) error {
	jobs, err := s.store.Cancel(ctx, JobFilter{MessageID: messageID})
	if err != nil {
		return fmt.Errorf("webhook: cancel deliveries of %q: %w", messageID, err)
	}
	now := s.clock.Now()
	for _, j := range jobs {
		if _, err := logCancelled(ctx, s.store, j, now, "campaign cancelled"); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
	}
	return nil
}

// logCancelled records j, a job that [DeliveryStore.Cancel] returned, as an attempt at now
// with Outcome Cancelled and the reason given, and returns the attempt.
func logCancelled(ctx context.Context, store Store, j *Job, now time.Time, reason string) (*Attempt, error) {
	a := &Attempt{
		DeliveryID: j.ID, MessageID: j.MessageID, MessageVersion: j.MessageVersion, UserID: j.UserID,
		Number: j.Attempts + 1, Time: now, Outcome: Cancelled, Err: reason,
	}
	// The job is cancelled, not leased: Finish records the attempt and reports the lease
	// lost, which is expected.
	if err := store.Finish(ctx, j, a); err != nil && !errors.Is(err, ErrLeaseLost) {
		return nil, fmt.Errorf("log cancelled delivery %s: %w", j.ID, err)
	}
	return a, nil
}
