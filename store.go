package webhook

import (
	"context"
	"time"
)

// Store keeps the Sender's users, events, messages, delivery queue and attempt log. It is made
// of small role interfaces, each with its contract in its doc; store/memstore is the in-memory
// Store, store/sqlitestore and store/pgstore are durable ones, and store/storetest checks any
// Store against the whole contract.
//
// Every method takes a context first; cancelling it abandons the call, which then returns the
// context's error and changes nothing it had not committed. Where a method needs the current
// time it takes it as an argument and uses no other; times are kept at least to the
// microsecond and read back as the same instants, in any location. A Store must be safe for
// concurrent use, and maps and slices reachable from the values passed to it or returned by
// it are treated as immutable by both sides.
type Store interface {
	UserStore
	EventStore
	EventHistoryStore
	MessageStore
	DeliveryStore
	AttemptStore
	CampaignStore
}

// UserStore keeps users.
type UserStore interface {
	// PutUser saves u, replacing any user with the same ID.
	PutUser(ctx context.Context, u User) error
	// User returns the user with the given ID, or ErrNotFound.
	User(ctx context.Context, id string) (User, error)
	// Users returns up to limit users whose IDs sort after the given ID (byte-wise), in ID
	// order: a page of the whole user base. Pass "" for the first page and the last ID of a
	// page for the next; a page shorter than limit is the last.
	Users(ctx context.Context, after string, limit int) ([]User, error)
}

// EventStore keeps events.
type EventStore interface {
	// AddEvent saves e and enqueues jobs, as one change where the store can make it atomic:
	// either both are saved or neither is. Jobs are enqueued as by [DeliveryStore.Enqueue].
	AddEvent(ctx context.Context, e Event, jobs []*Job) error
}

// MessageStore keeps messages and every version of them.
type MessageStore interface {
	// PutMessage saves m as a new version of the message with its ID, sets m.Version to that
	// version's number (1 for a new message) and makes it the current version.
	PutMessage(ctx context.Context, m *Message) error
	// Message returns the given version of a message, or its current version if version is
	// 0, or ErrNotFound.
	Message(ctx context.Context, id string, version int) (*Message, error)
	// TriggeredMessages returns the current version of every message whose Delivery is
	// Triggered by the named event, in ID order.
	TriggeredMessages(ctx context.Context, event string) ([]*Message, error)
}

// JobState is where a [Job] is in its life.
type JobState string

const (
	// JobScheduled jobs are waiting until their DueAt.
	JobScheduled JobState = "scheduled"
	// JobRunning jobs are leased to a claimer until their LeaseExpiresAt.
	JobRunning JobState = "running"
	// JobSucceeded jobs were delivered.
	JobSucceeded JobState = "succeeded"
	// JobFailed jobs failed for good.
	JobFailed JobState = "failed"
	// JobSkipped jobs came due but were not sent because a rule said so.
	JobSkipped JobState = "skipped"
	// JobCancelled jobs were cancelled before they were sent.
	JobCancelled JobState = "cancelled"
	// JobHeld jobs belong to a paused campaign: they keep their DueAt but are not claimed
	// until the campaign is resumed (see [CampaignStore.HoldJobs]).
	JobHeld JobState = "held"
)

// JobFilter selects jobs for [DeliveryStore.Cancel]. Empty fields match everything.
type JobFilter struct {
	MessageID string
	UserID    string
	// CreatedBefore, if not zero, selects only jobs whose CreatedAt is before it; a zero
	// CreatedAt is before every time.
	CreatedBefore time.Time
	// Unless, if not empty, selects only jobs whose Unless is this event name.
	Unless string
}

// Match reports whether j is selected by f. Store adapters may use it.
func (f JobFilter) Match(j *Job) bool {
	return (f.MessageID == "" || j.MessageID == f.MessageID) &&
		(f.UserID == "" || j.UserID == f.UserID) &&
		(f.CreatedBefore.IsZero() || j.CreatedAt.Before(f.CreatedBefore)) &&
		(f.Unless == "" || j.Unless == f.Unless)
}

// Job is one delivery of one message to one user: the item in the delivery queue. Its ID is
// the delivery ID, sent as the webhook-id header on every attempt.
type Job struct {
	// ID identifies the delivery.
	ID string `json:"id"`
	// Key deduplicates deliveries: a Store enqueues at most one job per key, ever.
	Key string `json:"key"`
	// MessageID and MessageVersion identify the message to send.
	MessageID      string `json:"message_id"`
	MessageVersion int    `json:"message_version"`
	// UserID is the user to send it to.
	UserID string `json:"user_id"`
	// Event is the event that triggered the delivery, without its Params, or nil.
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
	// DueAt is when the next attempt is due, for a scheduled job.
	DueAt time.Time `json:"due_at"`
	// LeaseOwner and LeaseExpiresAt hold the lease of a running job.
	LeaseOwner     string    `json:"lease_owner,omitempty"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	// Request is the rendered request, saved after the first attempt renders it so that
	// every retry sends the same bytes. It holds credentials (the Authorization header), so
	// it is cleared when the delivery is finished for good: by the Sender once it succeeded,
	// failed or was skipped, and by [DeliveryStore.Cancel].
	Request *Request `json:"request,omitempty"`
	// Unless is the name of the event that cancels this job while it is scheduled (see
	// Delivery.Unless), or empty.
	Unless string `json:"unless,omitempty"`
}

// DeliveryStore is the delivery queue. Jobs move from scheduled to running (Claim) and then
// to succeeded, failed, or back to scheduled for a retry (Finish).
type DeliveryStore interface {
	// Enqueue saves jobs, which are scheduled. A job whose Key the store already holds, in
	// any state, is skipped without error, as is a second job with the same Key in one call.
	Enqueue(ctx context.Context, jobs []*Job) error
	// Claim leases up to limit due jobs to owner until now+lease and returns them with State
	// JobRunning, LeaseOwner and LeaseExpiresAt set. A job is due from its DueAt if it is
	// scheduled, or from its LeaseExpiresAt if it is running (its holder is presumed dead
	// once the lease expires), and Claim takes the jobs due at or before now earliest first
	// by that time, ties broken by ID, and returns them in that order. Claim never returns a
	// job to two claimers whose leases overlap. It returns no jobs and no error if none is
	// due.
	Claim(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]*Job, error)
	// Finish records the outcome of an attempt. It appends a (if not nil) to the attempt log,
	// and, if job is still leased to job.LeaseOwner, saves job's State, Attempts, DueAt and
	// Request and releases the lease. If the job is not leased to job.LeaseOwner (the lease
	// has passed to another owner, or the job was cancelled) it leaves the job as it is and
	// returns ErrLeaseLost; the attempt is recorded all the same, because it was made (or, for
	// a Cancelled attempt, because the cancellation happened). Likewise, if the Store holds
	// no job with job's ID, Finish records a and returns ErrNotFound.
	Finish(ctx context.Context, job *Job, a *Attempt) error
	// NextDue returns the earliest time at which a job will be due (a scheduled job's DueAt
	// or a running job's LeaseExpiresAt), and false if there are no such jobs.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// Job returns the job with the given ID, or ErrNotFound.
	Job(ctx context.Context, id string) (*Job, error)
	// Cancel moves every scheduled or held job that f selects to JobCancelled, clearing its
	// Request (which holds credentials, and will not be sent), and returns them as they are
	// now. Running jobs are left to finish. A filter with neither MessageID nor UserID is
	// refused with an error wrapping ErrInvalid.
	Cancel(ctx context.Context, f JobFilter) ([]*Job, error)
}

// AttemptStore reads the attempt log that [DeliveryStore.Finish] writes.
type AttemptStore interface {
	// Attempts returns the attempts f selects, newest first: by Time, and among attempts
	// with the same Time, the one recorded last first.
	Attempts(ctx context.Context, f AttemptFilter) ([]Attempt, error)
	// CountSent returns how many attempts to the user with the given ID have Outcome
	// Succeeded and a Time at or after since: the deliveries the user was sent in a window.
	// With an empty messageID it counts those of every message but leaves out attempts with
	// IgnoreCaps set (for Config.Caps); otherwise it counts those of that message only,
	// IgnoreCaps or not (for Delivery.Limit). An attempt counts from the moment
	// [DeliveryStore.Finish] has recorded it. The Sender calls it before the first attempt
	// of every delivery that caps or a limit apply to, so it must be an index lookup (by user
	// and time), not a scan of the log. A user with no attempts has a count of 0, not
	// ErrNotFound.
	CountSent(ctx context.Context, userID, messageID string, since time.Time) (int, error)
}

// AttemptPruner is an optional role of a Store: deleting old attempts. No Store deletes
// anything by itself, so the attempt log grows by a row per attempt for as long as the Store
// is used; an app that wants it bounded calls DeleteAttempts from a job of its own. The
// Sender never calls it. memstore, sqlitestore and pgstore implement it.
type AttemptPruner interface {
	// DeleteAttempts deletes the attempts whose Time is before before (an attempt at before
	// is kept) and returns how many it deleted. A Store that keeps times less precisely than
	// a nanosecond keeps what it cannot tell apart from before. It may delete in several
	// transactions, so as not to hold up deliveries; if ctx ends or a transaction fails, it
	// returns the number deleted so far with the error, and a later call deletes the rest.
	//
	// A deleted attempt is gone from [AttemptStore.Attempts] and from
	// [AttemptStore.CountSent]: keep at least the longest Per of Config.Caps and of your
	// messages' Delivery.Limit, or those deliveries may be sent again beyond their cap.
	DeleteAttempts(ctx context.Context, before time.Time) (int, error)
}

// EventHistoryStore answers questions about a user's event history without reading all of
// it: the event criteria of an [Audience] ask it once per criterion and user.
type EventHistoryStore interface {
	// EventStats returns the statistics of the events that q selects: those added by
	// [EventStore.AddEvent] with q.UserID and q.Name, whose Time is from q.Since to q.Until
	// (both included; a zero bound is no bound), and, if q.Where is not nil, whose Params
	// meet it as [Condition.Match] decides. An unknown user or event name yields zero
	// EventStats and no error. Every event added before the call is seen.
	//
	// The cost must not grow with the user's events outside the window: a Store keeps an
	// index on (user ID, name, time), as memstore does, and may evaluate q.Where in SQL
	// (its operators compare one JSON value with a constant) or match the events of the
	// window with the function [Condition.Matcher] returns, compiled once per call.
	EventStats(ctx context.Context, q EventQuery) (EventStats, error)
}

// EventQuery selects one user's events of one name for [EventHistoryStore.EventStats].
type EventQuery struct {
	UserID string
	Name   string
	// Since and Until bound the events' Time, both included. A zero time is no bound.
	Since, Until time.Time
	// Where, if not nil, selects only events whose Params meet it.
	Where *Condition
	// Param, if not empty, names the parameter that Numbers, Sum, Min and Max are over.
	Param string
}

// EventStats describes the events an [EventQuery] selects.
type EventStats struct {
	// Count is how many events were selected.
	Count int
	// First and Last are the earliest and latest Time among them; zero if Count is 0.
	First, Last time.Time
	// Numbers counts the selected events whose Param is a number (an int64 or float64 in
	// the [Map] model); Sum, Min and Max are over those values, and all four are zero if
	// Param is empty or no value is a number.
	Numbers       int
	Sum, Min, Max float64
}
