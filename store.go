package webhook

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"
)

// Store keeps the Sender's users, events, messages, job queue, attempt log and campaigns. It
// is made of six small role interfaces with fifteen methods in all, each with its contract in
// its doc; store/memstore is the in-memory Store, store/sqlitestore and store/pgstore are
// durable ones, and store/storetest checks any Store against the whole contract, one named
// rule at a time.
//
// The contract is plain data access: the Sender decides what a cap counts, which events an
// audience matches and when a job is due, and a Store saves and returns rows. Methods take
// their parameters in structs, so that fields can be added without breaking a Store written
// outside this module (a new field's zero value keeps the old behaviour), and the methods that
// the Sender calls per job take batches, so that a durable Store can serve many jobs with one
// statement and one commit.
//
// Every method takes a context first; cancelling it abandons the call, which then returns the
// context's error and changes nothing it had not committed. Where a method needs the current
// time it takes it as a parameter and uses no other; times are kept at least to the
// microsecond and read back as the same instants, in any location. A Store must be safe for
// concurrent use, and maps and slices reachable from the values passed to it or returned by
// it are treated as immutable by both sides. A Store reports a missing row with ErrNotFound
// and bad parameters with an error wrapping ErrInvalid.
//
// Optional roles add what only some Stores can do: [Notifier], [AttemptPruner],
// [QueueReader], [VariantStore], [TemplateStore], [Inspector], [AudienceStore].
type Store interface {
	UserStore
	EventStore
	MessageStore
	JobStore
	AttemptStore
	CampaignStore
}

// UserStore keeps users.
type UserStore interface {
	// PutUsers saves users, as one change where the store can make it atomic. A user the
	// Store does not hold is saved as given, with CreatedAt set to p.Now if it is zero. For a
	// user it holds, a zero CreatedAt keeps the stored one, and then:
	//   - by default the update is merged: the fields of User that are not zero replace the
	//     stored ones (Test only ever sets), each key of User.Attributes replaces the stored
	//     attribute of that name, and the attributes named in Unset are removed; other
	//     attributes are kept;
	//   - with Replace, the user is replaced whole.
	PutUsers(ctx context.Context, p PutUsersParams) error
	// Users returns users in ID order (byte-wise): those of q.IDs that it holds, or, if
	// q.IDs is empty, a page of up to q.Limit users whose IDs sort after q.After. Pass "" for
	// the first page and the last ID of a page for the next; a page shorter than q.Limit is
	// the last.
	Users(ctx context.Context, q UserQuery) ([]User, error)
}

// PutUsersParams are the parameters of [UserStore.PutUsers].
type PutUsersParams struct {
	Users []UserUpdate
	// Now is the CreatedAt of new users that have none.
	Now time.Time
}

// UserUpdate is one user to save with [UserStore.PutUsers].
type UserUpdate struct {
	User User
	// Replace replaces the stored user whole instead of merging User into it.
	Replace bool
	// Unset names attributes to remove, when merging.
	Unset []string
}

// Apply returns the user that saving up over old gives, as [UserStore.PutUsers] says: old is
// the user the Store holds, or nil if it holds none, and now is PutUsersParams.Now. Store
// adapters that merge in Go may use it.
func (up *UserUpdate) Apply(old *User, now time.Time) User {
	u := up.User
	switch {
	case old == nil:
		if u.CreatedAt.IsZero() {
			u.CreatedAt = now
		}
		return u
	case up.Replace:
		if u.CreatedAt.IsZero() {
			u.CreatedAt = old.CreatedAt
		}
		return u
	}
	m := *old
	for _, f := range []struct{ to, from *string }{
		{&m.Email, &u.Email}, {&m.TimeZone, &u.TimeZone}, {&m.Locale, &u.Locale},
		{&m.Country, &u.Country}, {&m.Region, &u.Region}, {&m.City, &u.City},
	} {
		if *f.from != "" {
			*f.to = *f.from
		}
	}
	m.Test = m.Test || u.Test
	if !u.CreatedAt.IsZero() {
		m.CreatedAt = u.CreatedAt
	}
	if !u.LastActive.IsZero() {
		m.LastActive = u.LastActive
	}
	if len(u.Attributes) > 0 || len(up.Unset) > 0 {
		attrs := make(Map, len(m.Attributes)+len(u.Attributes))
		maps.Copy(attrs, m.Attributes)
		maps.Copy(attrs, u.Attributes)
		for _, k := range up.Unset {
			delete(attrs, k)
		}
		m.Attributes = attrs
	}
	return m
}

// UserQuery selects users for [UserStore.Users].
type UserQuery struct {
	// IDs, if not empty, selects these users; After and Limit are then ignored.
	IDs []string
	// After and Limit select a page of the user base in ID order.
	After string
	Limit int
}

// EventStore reads the event history that [JobStore.Enqueue] writes.
type EventStore interface {
	// Events returns the events of q.UserID whose name is one of q.Names (any name if it is
	// empty) and whose Time is from q.Since to q.Until (both included; a zero bound is no
	// bound), in Time order, events with the same Time in the order they were saved. An
	// unknown user has no events.
	//
	// The Sender calls it for the event criteria of audiences and for OptimalTime messages,
	// so its cost must not grow with the user's events outside the window or of other names:
	// keep an index on (user ID, name, time), as memstore does.
	Events(ctx context.Context, q EventQuery) ([]Event, error)
}

// EventQuery selects one user's events for [EventStore.Events].
type EventQuery struct {
	UserID string
	// Names, if not empty, selects only events with one of these names.
	Names []string
	// Since and Until bound the events' Time, both included. A zero time is no bound.
	Since, Until time.Time
}

// MessageStore keeps messages and every version of them.
type MessageStore interface {
	// PutMessage saves m as a new version of the message with its ID, sets m.Version to that
	// version's number (one more than the latest, 1 for a new message, even one that was
	// deleted) and makes it the current version.
	PutMessage(ctx context.Context, m *Message) error
	// Messages returns the messages q selects, in ID order: with q.ID, that message at
	// q.Version (its current version if q.Version is 0, even if it is deleted), or none;
	// with q.Event, the current version of every message that is not deleted and whose
	// Delivery is Triggered by that event; with neither, a page of up to q.Limit messages
	// that are not deleted, at their current versions, whose IDs sort after q.After.
	Messages(ctx context.Context, q MessageQuery) ([]*Message, error)
	// DeleteMessage marks the message with the given ID deleted: Messages leaves it out of
	// lists and triggers from then on, but still returns each of its versions by ID, for the
	// jobs that were enqueued with them. It returns ErrNotFound if there is no such message.
	// Saving the message again undeletes it.
	DeleteMessage(ctx context.Context, id string) error
}

// MessageQuery selects messages for [MessageStore.Messages].
type MessageQuery struct {
	ID      string
	Version int
	Event   string
	After   string
	Limit   int
}

// JobState is where a [Job] is in its life.
type JobState string

const (
	// JobScheduled jobs are waiting until their DueAt.
	JobScheduled JobState = "scheduled"
	// JobRunning jobs are leased to a claimer until their LeaseExpiresAt.
	JobRunning JobState = "running"
	// JobHeld jobs belong to a paused campaign: they keep their DueAt but are not claimed
	// until the campaign is resumed.
	JobHeld JobState = "held"
	// JobSucceeded jobs were delivered.
	JobSucceeded JobState = "succeeded"
	// JobFailed jobs failed for good.
	JobFailed JobState = "failed"
	// JobSkipped jobs came due but were not sent because a rule said so.
	JobSkipped JobState = "skipped"
	// JobCancelled jobs were cancelled before they were sent.
	JobCancelled JobState = "cancelled"
)

// jobStates are the states of a job, in the order of its life.
var jobStates = []JobState{JobScheduled, JobRunning, JobHeld, JobSucceeded, JobFailed, JobSkipped, JobCancelled}

// JobStates returns every state of a job, in the order of its life: scheduled, running,
// held, succeeded, failed, skipped, cancelled.
func JobStates() []JobState { return slices.Clone(jobStates) }

// Valid reports whether s is one of the states of [JobStates].
func (s JobState) Valid() bool { return slices.Contains(jobStates, s) }

// Ended reports whether a job in state s is over: succeeded, failed, skipped or cancelled.
func (s JobState) Ended() bool {
	return s == JobSucceeded || s == JobFailed || s == JobSkipped || s == JobCancelled
}

// Job is one message to be sent to one user: the item in the job queue. Its ID is sent as the
// webhook-id header on every attempt, so that a receiver can drop a second copy of it.
type Job struct {
	// ID identifies the job.
	ID string `json:"id"`
	// Key deduplicates jobs: a Store enqueues at most one job per key, ever.
	Key string `json:"key"`
	// MessageID and MessageVersion identify the message to send.
	MessageID      string `json:"message_id"`
	MessageVersion int    `json:"message_version"`
	// UserID is the user to send it to.
	UserID string `json:"user_id"`
	// Event is the event that triggered the job, without its Params, or nil.
	Event *Event `json:"event,omitempty"`
	// Params are the parameters templates see: the triggering event's, or those given to
	// [Sender.Send].
	Params Map `json:"params,omitempty"`
	// State is where the job is in its life.
	State JobState `json:"state"`
	// Attempts counts the attempts made so far.
	Attempts int `json:"attempts"`
	// CreatedAt is when the job was enqueued.
	CreatedAt time.Time `json:"created_at"`
	// DueAt is when the next attempt is due, for a scheduled or held job.
	DueAt time.Time `json:"due_at"`
	// LeaseOwner and LeaseExpiresAt hold the lease of a running job.
	LeaseOwner     string    `json:"lease_owner,omitempty"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	// Request is the rendered request, saved after the first attempt renders it so that
	// every retry sends the same bytes. It holds credentials (the Authorization header), so
	// the Sender clears it when the job ends, and [JobStore.UpdateJobs] when it cancels one.
	Request *Request `json:"request,omitempty"`
	// Unless is the name of the event that cancels this job while it is pending (see
	// Delivery.Unless), or empty.
	Unless string `json:"unless,omitempty"`
	// Trace is the W3C trace context (the traceparent and tracestate headers, by name) of the
	// span that was active when the job was enqueued, or nil if none was. Each attempt's span
	// links to it, in whichever process sends the job.
	Trace map[string]string `json:"trace,omitempty"`
	// Variant is the ID of the variant of the message the job sends (see Message.Variants),
	// ControlGroup for a user of the control group, or empty for a message without variants.
	Variant string `json:"variant,omitempty"`
	// ReplayFrom is, for a job that [Sender.Replay] or [Sender.RetryJob] put back in the
	// queue after it ended, the Number of its first attempt after the latest replay; 0 for a
	// job never replayed. Its attempts from then on are marked Attempt.Replay, and the
	// RetryPolicy counts them from 1 again (see AttemptResult.Attempt). Stores save it and
	// return it; only [Inspector.ReplayJobs] sets it.
	ReplayFrom int `json:"replay_from,omitempty"`
}

// JobStore is the job queue. Jobs move from scheduled (or held) to running (Claim), and then
// to an end or back to scheduled for a retry (Finish).
type JobStore interface {
	// Enqueue saves p.Events and p.Jobs as one change where the store can make it atomic:
	// either all are saved or none is. An event whose UserID and ID the Store already holds
	// is not saved again, nor is a second one in the same call. A job whose Key the Store
	// already holds, in any state, is not saved again, nor is a second job with the same Key
	// in the same call; the result gives, for each job, the ID of the job the Store holds
	// under its Key: its own ID if it was saved. Jobs are saved in the state they are given,
	// JobScheduled or JobHeld.
	Enqueue(ctx context.Context, p EnqueueParams) (EnqueueResult, error)
	// Claim leases up to p.Limit due jobs to p.Owner until p.Now+p.Lease and returns them
	// with State JobRunning, LeaseOwner and LeaseExpiresAt set. A job is due from its DueAt
	// if it is scheduled, or from its LeaseExpiresAt if it is running (its holder is presumed
	// dead once the lease expires); held and ended jobs are never due. Claim takes the jobs
	// due at or before p.Now earliest first by that time, ties broken by ID, and returns them
	// in that order. It never gives a job to two claimers whose leases overlap.
	//
	// If it claims fewer than p.Limit jobs, the result's NextDue is the earliest time at
	// which a job it did not claim will be due, or zero if none will; if it claims p.Limit,
	// NextDue is zero.
	Claim(ctx context.Context, p ClaimParams) (ClaimResult, error)
	// Finish records the outcome of attempts, as one change where the store can make it
	// atomic. For each item it appends the item's Attempt (if not nil) to the attempt log,
	// saves the item's User (if not nil) as PutUsers saves a UserUpdate, with the Attempt's
	// Time as PutUsersParams.Now, and, if the item's job is still leased to Job.LeaseOwner,
	// saves the job's State, Attempts, DueAt and Request and releases the lease. Items are
	// applied in order. It returns one error per item, nil
	// for the items it saved: ErrLeaseLost if the job is not leased to Job.LeaseOwner (the
	// lease passed to another owner, or the job was cancelled), or ErrNotFound if the Store
	// holds no such job; the item's Attempt is recorded all the same, because it was made. A
	// non-nil second result means that nothing was saved.
	Finish(ctx context.Context, p FinishParams) ([]error, error)
	// UpdateJobs moves every job that p.Filter selects and whose state is one of p.From to
	// p.To, and returns them as they are after the change, in ID order. A job moved to
	// JobCancelled loses its Request (it holds credentials, and will not be sent) and gets
	// an attempt in the log in the same change, with Number one more than its Attempts,
	// Time p.Now, Outcome Cancelled and Err p.Reason. A job moved to JobScheduled gets DueAt
	// p.DueAt if it is not zero. A filter that names no job, message or user is refused with
	// an error wrapping ErrInvalid, as is JobRunning in p.From or as p.To: only Claim and
	// Finish move jobs into and out of it.
	UpdateJobs(ctx context.Context, p UpdateJobsParams) ([]*Job, error)
	// Jobs returns the jobs q selects, in ID order, after q.After, at most q.Limit (0 is no
	// limit).
	Jobs(ctx context.Context, q JobQuery) ([]*Job, error)
}

// EnqueueParams are the parameters of [JobStore.Enqueue].
type EnqueueParams struct {
	Events []Event
	Jobs   []*Job
}

// EnqueueResult is the result of [JobStore.Enqueue].
type EnqueueResult struct {
	// JobIDs holds, for each job enqueued, the ID of the job the Store holds under its Key.
	JobIDs []string
}

// ClaimParams are the parameters of [JobStore.Claim].
type ClaimParams struct {
	Now   time.Time
	Owner string
	Lease time.Duration
	Limit int
}

// ClaimResult is the result of [JobStore.Claim].
type ClaimResult struct {
	Jobs []*Job
	// NextDue is when the next job is due, if fewer than Limit were claimed; zero if none.
	NextDue time.Time
}

// FinishParams are the parameters of [JobStore.Finish].
type FinishParams struct {
	Jobs []Finished
}

// Finished is the outcome of one attempt, for [JobStore.Finish].
type Finished struct {
	// Job is the job as it is to be saved: its ID, LeaseOwner (the owner it must still be
	// leased to), State, Attempts, DueAt and Request are read.
	Job *Job
	// Attempt is appended to the attempt log if it is not nil. A job put back unsent has
	// none.
	Attempt *Attempt
	// User, if not nil, is saved with the attempt, as [UserStore.PutUsers] saves it: the
	// attributes that the response of the attempt updated (see Message.UpdateProfile). It
	// comes with an Attempt, whose Time is the Now of a user the Store does not hold.
	User *UserUpdate
}

// JobFilter selects jobs for [JobStore.UpdateJobs] and [JobQuery]. Empty fields match
// everything.
type JobFilter struct {
	IDs       []string
	MessageID string
	UserID    string
	// Unless, if not empty, selects only jobs whose Unless is this event name.
	Unless string
	// CreatedBefore, if not zero, selects only jobs whose CreatedAt is before it.
	CreatedBefore time.Time
}

// UpdateJobsParams are the parameters of [JobStore.UpdateJobs].
type UpdateJobsParams struct {
	Filter JobFilter
	From   []JobState
	To     JobState
	// DueAt, if not zero, is the new DueAt of jobs moved to JobScheduled.
	DueAt time.Time
	// Now and Reason are the Time and Err of the attempts of jobs moved to JobCancelled.
	Now    time.Time
	Reason string
}

// JobQuery selects jobs for [JobStore.Jobs].
type JobQuery struct {
	JobFilter
	// States, if not empty, selects only jobs in one of these states.
	States []JobState
	// After and Limit page through the jobs in ID order.
	After string
	Limit int
}

// Match reports whether j is selected by f. Store adapters may use it.
func (f *JobFilter) Match(j *Job) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, j.ID)) &&
		(f.MessageID == "" || j.MessageID == f.MessageID) &&
		(f.UserID == "" || j.UserID == f.UserID) &&
		(f.CreatedBefore.IsZero() || j.CreatedAt.Before(f.CreatedBefore)) &&
		(f.Unless == "" || j.Unless == f.Unless)
}

// Match reports whether j is selected by q, ignoring After and Limit. Store adapters may use
// it.
func (q *JobQuery) Match(j *Job) bool {
	return q.JobFilter.Match(j) && (len(q.States) == 0 || slices.Contains(q.States, j.State))
}

// AttemptStore reads the attempt log that [JobStore.Finish] and [JobStore.UpdateJobs] write.
type AttemptStore interface {
	// Attempts returns the attempts q selects, newest first: by Time, and among attempts
	// with the same Time, the one recorded last first; at most q.Limit of them (0 is no
	// limit). An attempt is selected from the moment the change that records it commits.
	//
	// The Sender calls it with q.UserID, q.Outcomes {Succeeded}, q.Since and q.Brief before
	// the first attempt of every job that caps apply to, so that query must be an index
	// lookup (by user and time), not a scan of the log.
	Attempts(ctx context.Context, q AttemptQuery) ([]Attempt, error)
}

// AttemptQuery selects attempts for [AttemptStore.Attempts]. Empty fields match everything.
type AttemptQuery struct {
	JobID     string
	MessageID string
	UserID    string
	// Variant, if not empty, selects only attempts of jobs of this variant (see
	// Message.Variants), or of the control group with ControlGroup.
	Variant string
	// Outcomes, if not empty, selects only attempts with one of these outcomes.
	Outcomes []Outcome
	// Since, if not zero, selects only attempts whose Time is at or after it.
	Since time.Time
	// Limit is the most attempts returned; 0 means no limit.
	Limit int
	// Brief lets the Store fill in only JobID, MessageID, UserID, Variant, Number, Time,
	// Outcome, IgnoreCaps and Test, and leave the request, response and error out.
	Brief bool
}

// Match reports whether a is selected by q, ignoring Limit and Brief. Store adapters may use
// it.
func (q *AttemptQuery) Match(a *Attempt) bool {
	return (q.JobID == "" || a.JobID == q.JobID) &&
		(q.MessageID == "" || a.MessageID == q.MessageID) &&
		(q.UserID == "" || a.UserID == q.UserID) &&
		(q.Variant == "" || a.Variant == q.Variant) &&
		(len(q.Outcomes) == 0 || slices.Contains(q.Outcomes, a.Outcome)) &&
		(q.Since.IsZero() || !a.Time.Before(q.Since))
}

// CampaignStore keeps campaigns. Every change to a campaign is a compare-and-set on its Rev,
// so that Senders sharing a Store never overwrite each other's changes.
type CampaignStore interface {
	// PutCampaign saves c if the Store's campaign of c.MessageID has Rev c.Rev, or if it has
	// none and c.Rev is 0, and then sets c.Rev to the new revision, which is greater. It
	// returns ErrConflict, and saves nothing, otherwise.
	PutCampaign(ctx context.Context, c *Campaign) error
	// Campaigns returns the campaigns of the messages q.MessageIDs names that the Store
	// holds, in MessageID order.
	Campaigns(ctx context.Context, q CampaignQuery) ([]*Campaign, error)
	// LeaseCampaign leases to p.Owner until p.Now+p.Lease one campaign whose fan-out is due —
	// in state CampaignRunning, with a non-zero NextAt at or before p.Now, and with no lease
	// or a lease that expired at or before p.Now (whoever held it: a fan-out that failed is
	// retried when its lease expires) — and returns it with LeaseOwner, LeaseExpiresAt and a
	// new Rev: the one with the earliest NextAt, ties broken by MessageID. It never leases a
	// campaign to two owners whose leases overlap.
	//
	// If it leases none, the result's NextDue is the earliest time at which a fan-out will be
	// due — the NextAt of a running campaign whose NextAt is not zero, or its LeaseExpiresAt
	// if that is later — or zero if none will.
	LeaseCampaign(ctx context.Context, p LeaseCampaignParams) (LeaseCampaignResult, error)
}

// CampaignQuery selects campaigns for [CampaignStore.Campaigns].
type CampaignQuery struct {
	MessageIDs []string
}

// LeaseCampaignParams are the parameters of [CampaignStore.LeaseCampaign].
type LeaseCampaignParams struct {
	Now   time.Time
	Owner string
	Lease time.Duration
}

// LeaseCampaignResult is the result of [CampaignStore.LeaseCampaign].
type LeaseCampaignResult struct {
	// Campaign is the campaign leased, or nil.
	Campaign *Campaign
	// NextDue is when the next fan-out is due, if none was leased; zero if none will be.
	NextDue time.Time
}

// AttemptPruner is an optional role of a Store: deleting old attempts. No Store deletes
// anything by itself, so the attempt log grows by a row per attempt for as long as the Store
// is used; an app that wants it bounded calls DeleteAttempts from a job of its own. The
// Sender never calls it. memstore, sqlitestore and pgstore implement it.
type AttemptPruner interface {
	// DeleteAttempts deletes the attempts whose Time is before before (an attempt at before
	// is kept) and returns how many it deleted. A Store that keeps times less precisely than
	// a nanosecond keeps what it cannot tell apart from before. It may delete in several
	// transactions, so as not to hold up jobs; if ctx ends or a transaction fails, it
	// returns the number deleted so far with the error, and a later call deletes the rest.
	//
	// A deleted attempt is gone from [AttemptStore.Attempts], which caps count: keep at
	// least the longest Per of Config.Caps and of your messages' Delivery.Cap, or those
	// messages may be sent again beyond their cap.
	DeleteAttempts(ctx context.Context, before time.Time) (int, error)
}

// QueueReader is an optional role of a Store: counting the job queue, for the gauges
// webhook.queue.depth and webhook.queue.lag of a started Sender (see Config.MeterProvider),
// which reports neither if its Store lacks the role. memstore, sqlitestore and pgstore
// implement it.
type QueueReader interface {
	// QueueStats returns how many jobs are scheduled, running and held, and when the job that
	// has been due the longest came due: the earliest time at or before p.Now at which a job
	// is due as [JobStore.Claim] says (the DueAt of a scheduled job, the LeaseExpiresAt of a
	// running one), or zero if none is due at p.Now. A Sender calls it at each collection of
	// its metrics, so it must not read the jobs one by one: keep counts, or count with an
	// index.
	QueueStats(ctx context.Context, p QueueStatsParams) (QueueStats, error)
}

// QueueStatsParams are the parameters of [QueueReader.QueueStats].
type QueueStatsParams struct {
	Now time.Time
}

// QueueStats is the result of [QueueReader.QueueStats].
type QueueStats struct {
	// Scheduled, Running and Held count the jobs in each of these states.
	Scheduled, Running, Held int64
	// OldestDue is when the job that has been due the longest came due; zero if none is due.
	OldestDue time.Time
}

// role returns store as its optional role R, or an error wrapping errors.ErrUnsupported that
// names what needed it and the role.
func role[R any](store MessageStore, what string) (R, error) {
	r, ok := store.(R)
	if !ok {
		return r, fmt.Errorf("webhook: %s: the Store (%T) does not implement %v: %w", what, store, reflect.TypeFor[R](), errors.ErrUnsupported)
	}
	return r, nil
}
