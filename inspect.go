package webhook

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Inspector is an optional role of a Store: the queries and the replay behind an operator's
// view of the job queue and the attempt log (see [Sender.Jobs], [Sender.AttemptLog],
// [Sender.JobCounts], [Sender.Hosts] and [Sender.Replay]). The Sender methods that need it
// return an error wrapping errors.ErrUnsupported if the Store lacks it. memstore, sqlitestore
// and pgstore implement it.
//
// Each method answers in the Store's own query language with indexes: none may read the jobs
// or attempts outside what it returns one by one, and JobCounts may not count jobs at all
// (keep counts as jobs change state, as QueueReader does).
type Inspector interface {
	// FindJobs returns up to p.Limit jobs that p.Query selects (its Cursor and Limit are not
	// read), newest first: by CreatedAt, latest first, then by ID, greatest first. With a
	// non-empty p.AfterID it returns only the jobs that come after the one created at
	// p.AfterCreatedAt with ID p.AfterID in that order, whether or not that job still
	// exists. A p.Limit of 0 or less means no limit.
	FindJobs(ctx context.Context, p FindJobsParams) ([]*Job, error)
	// FindAttempts returns up to p.Limit attempts that p.Query selects (its Cursor and Limit
	// are not read), newest first: by Time, latest first, then by Seq, greatest first, each
	// with its Seq set. With a non-zero p.AfterSeq it returns only the attempts that come
	// after the one at p.AfterTime with Seq p.AfterSeq in that order. A p.Limit of 0 or less
	// means no limit. Attempts of test sends are included.
	FindAttempts(ctx context.Context, p FindAttemptsParams) ([]Attempt, error)
	// CountJobs returns, for each message of p.MessageIDs that has jobs, or for every message
	// that has jobs if p.MessageIDs is empty, how many of its jobs are in each state, in
	// MessageID order. States with no jobs may be left out of MessageCounts.States.
	CountJobs(ctx context.Context, p CountJobsParams) ([]MessageCounts, error)
	// CountHosts returns, for each Host of the attempts whose Time is at or after p.Since
	// (attempts with no Host left out), how many attempts there were, how many succeeded and
	// the Time of the latest, in Host order. It leaves HostStats.Breaker empty: the breaker
	// is the Sender's.
	CountHosts(ctx context.Context, p CountHostsParams) ([]HostStats, error)
	// ReplayJobs moves the ended jobs that p selects back to the queue, as one change where
	// the store can make it atomic: to JobScheduled, with DueAt p.Now and ReplayFrom one more
	// than their Attempts, and their Attempts, ID and everything else kept. It returns how
	// many it moved; with p.DryRun it moves none and returns how many it would have. It
	// selects the jobs that p.Query selects (its Cursor and Limit are not read; empty States
	// select every ended state, succeeded among them) and, if p.IDs is not empty, whose ID
	// is one of p.IDs. If p.Query.States names a state that has not ended, or neither p.IDs
	// nor p.Query names anything (a message, user, state or time bound), it returns an error
	// wrapping ErrInvalid (see [ReplayJobsParams.Check]). Two calls at once never both move
	// a job: each job is moved by one of them.
	ReplayJobs(ctx context.Context, p ReplayJobsParams) (int, error)
}

// FindJobsParams are the parameters of [Inspector.FindJobs].
type FindJobsParams struct {
	Query JobsQuery
	// AfterCreatedAt and AfterID are the position of the last job of the page before, or
	// zero for the first page.
	AfterCreatedAt time.Time
	AfterID        string
	Limit          int
}

// FindAttemptsParams are the parameters of [Inspector.FindAttempts].
type FindAttemptsParams struct {
	Query AttemptLogQuery
	// AfterTime and AfterSeq are the position of the last attempt of the page before, or
	// zero for the first page.
	AfterTime time.Time
	AfterSeq  int64
	Limit     int
}

// CountJobsParams are the parameters of [Inspector.CountJobs].
type CountJobsParams struct {
	MessageIDs []string
}

// CountHostsParams are the parameters of [Inspector.CountHosts].
type CountHostsParams struct {
	Since time.Time
}

// ReplayJobsParams are the parameters of [Inspector.ReplayJobs].
type ReplayJobsParams struct {
	Query JobsQuery
	// IDs, if not empty, selects only these jobs.
	IDs []string
	// Now is the new DueAt of the jobs replayed.
	Now time.Time
	// DryRun counts the jobs that would be replayed, and moves none.
	DryRun bool
}

// JobsQuery selects jobs for [Sender.Jobs] and [Sender.Replay]. Empty fields match every job.
type JobsQuery struct {
	MessageID, UserID string
	// States, if not empty, selects only jobs in one of these states.
	States []JobState
	// CreatedSince and CreatedBefore, if not zero, bound the jobs' CreatedAt:
	// [CreatedSince, CreatedBefore).
	CreatedSince, CreatedBefore time.Time
	// DueSince and DueBefore, if not zero, bound the jobs' DueAt: [DueSince, DueBefore).
	DueSince, DueBefore time.Time
	// Cursor is "" for the first page, and JobsPage.Next for the next.
	Cursor string
	// Limit is the most jobs on a page. 0 means 50; more than 1000 means 1000.
	Limit int
}

// Match reports whether j is selected by q, ignoring Cursor and Limit. Store adapters may use
// it.
func (q *JobsQuery) Match(j *Job) bool {
	return (q.MessageID == "" || j.MessageID == q.MessageID) &&
		(q.UserID == "" || j.UserID == q.UserID) &&
		(len(q.States) == 0 || slices.Contains(q.States, j.State)) &&
		inRange(j.CreatedAt, q.CreatedSince, q.CreatedBefore) &&
		inRange(j.DueAt, q.DueSince, q.DueBefore)
}

// names reports whether q selects by anything at all.
func (q *JobsQuery) names() bool {
	return q.MessageID != "" || q.UserID != "" || len(q.States) > 0 ||
		!q.CreatedSince.IsZero() || !q.CreatedBefore.IsZero() || !q.DueSince.IsZero() || !q.DueBefore.IsZero()
}

// Check returns an error wrapping ErrInvalid if p asks for a replay that [Inspector.ReplayJobs]
// refuses: of jobs in a state that has not ended, or by a filter that names nothing. Store
// adapters may use it.
func (p *ReplayJobsParams) Check() error {
	if len(p.IDs) == 0 && !p.Query.names() {
		return invalidf("webhook: replay: the filter names no message, user, state or time; replaying the whole log is refused")
	}
	for _, st := range p.Query.States {
		if !st.Ended() {
			return invalidf("webhook: replay: states: %q has not ended; only failed, skipped, cancelled and succeeded jobs are replayed", st)
		}
	}
	return nil
}

// inRange reports whether t is in [since, before), a zero bound being no bound.
func inRange(t, since, before time.Time) bool {
	return (since.IsZero() || !t.Before(since)) && (before.IsZero() || t.Before(before))
}

// JobsPage is a page of jobs returned by [Sender.Jobs].
type JobsPage struct {
	Jobs []*Job
	// Next is the Cursor of the next page, or "" if this is the last.
	Next string
}

// AttemptLogQuery selects attempts for [Sender.AttemptLog]. Empty fields match every attempt.
type AttemptLogQuery struct {
	JobID, MessageID, UserID string
	// Variant, if not empty, selects only attempts of jobs of this variant, or of the control
	// group with ControlGroup.
	Variant string
	// Outcomes, if not empty, selects only attempts with one of these outcomes.
	Outcomes []Outcome
	// StatusClass, if not 0, selects only attempts whose response status is in the class:
	// 2, 3, 4 or 5 selects 2xx, 3xx, 4xx or 5xx, and -1 selects attempts with no response
	// (StatusCode 0).
	StatusClass int
	// Since and Until, if not zero, bound the attempts' Time: [Since, Until).
	Since, Until time.Time
	// Cursor is "" for the first page, and AttemptPage.Next for the next.
	Cursor string
	// Limit is the most attempts on a page. 0 means 50; more than 1000 means 1000.
	Limit int
}

// Match reports whether a is selected by q, ignoring Cursor and Limit. Store adapters may use
// it.
func (q *AttemptLogQuery) Match(a *Attempt) bool {
	return (q.JobID == "" || a.JobID == q.JobID) &&
		(q.MessageID == "" || a.MessageID == q.MessageID) &&
		(q.UserID == "" || a.UserID == q.UserID) &&
		(q.Variant == "" || a.Variant == q.Variant) &&
		(len(q.Outcomes) == 0 || slices.Contains(q.Outcomes, a.Outcome)) &&
		(q.StatusClass == 0 || (q.StatusClass == -1 && a.StatusCode == 0) ||
			(q.StatusClass > 0 && a.StatusCode/100 == q.StatusClass)) &&
		inRange(a.Time, q.Since, q.Until)
}

// AttemptPage is a page of attempts returned by [Sender.AttemptLog].
type AttemptPage struct {
	Attempts []Attempt
	// Next is the Cursor of the next page, or "" if this is the last.
	Next string
}

// MessageCounts is how many of a message's jobs are in each state: its progress. A campaign
// is a message, so these are a campaign's counts too.
type MessageCounts struct {
	MessageID string
	// States counts the jobs in each state; a state with none may be missing.
	States map[JobState]int64
}

// Total returns how many jobs were enqueued: the sum over every state.
func (c MessageCounts) Total() int64 {
	var n int64
	for _, v := range c.States {
		n += v
	}
	return n
}

// Pending returns how many jobs have not ended: scheduled, running or held.
func (c MessageCounts) Pending() int64 {
	return c.States[JobScheduled] + c.States[JobRunning] + c.States[JobHeld]
}

// HostStats is what [Sender.Hosts] reports of one destination host.
type HostStats struct {
	// Host is the host of the attempts' URL, as Attempt.Host.
	Host string
	// Attempts counts the attempts since the window began, and Succeeded those that
	// succeeded.
	Attempts, Succeeded int64
	// LastAttempt is the Time of the latest attempt.
	LastAttempt time.Time
	// Breaker is the host's circuit breaker as this Sender sees it: "closed", "open" (the
	// host is paused) or "half-open" (the pause is over and the next attempt decides). The
	// breaker is kept in the Sender's memory, so Senders sharing a Store may differ.
	Breaker string
}

// The pages of Sender.Jobs and Sender.AttemptLog.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// inspector returns the Store's Inspector role, or an error wrapping errors.ErrUnsupported
// naming what needed it.
func (s *Sender) inspector(what string) (Inspector, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	return role[Inspector](s.store, what)
}

// pageSize returns the page size a query's Limit asks for.
func pageSize(what string, limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, invalidf("webhook: %s: limit: %d is negative", what, limit)
	case limit == 0:
		return defaultPageSize, nil
	}
	return min(limit, maxPageSize), nil
}

// checkStates returns an error wrapping ErrInvalid if states names an unknown state.
func checkStates(what string, states []JobState) error {
	for _, st := range states {
		if !st.Valid() {
			return invalidf("webhook: %s: states: unknown state %q", what, st)
		}
	}
	return nil
}

// A cursor is the position of the last row of a page: its time and its ID (a job's) or Seq
// (an attempt's), in base64 so that it reads as one opaque token in a URL.
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + " " + id))
}

// decodeCursor returns the time and ID a cursor holds, or an error wrapping ErrInvalid.
func decodeCursor(what, c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		ts, id, ok := strings.Cut(string(b), " ")
		var t time.Time
		if t, err = time.Parse(time.RFC3339Nano, ts); err == nil && ok && id != "" {
			return t, id, nil
		}
	}
	return time.Time{}, "", invalidf("webhook: %s: cursor: %q is not a cursor of this list", what, c)
}

// Jobs returns a page of the jobs q selects, newest first (by CreatedAt, then by ID), and
// the cursor of the next page. Paging with the cursor neither repeats nor misses a job that
// existed when the first page was read, whatever is enqueued meanwhile; a job that changes
// state between pages may leave or join a filter by state.
//
// It returns an error wrapping ErrInvalid for a bad query (naming the field), and one
// wrapping errors.ErrUnsupported if the Store is not an [Inspector].
func (s *Sender) Jobs(ctx context.Context, q JobsQuery) (JobsPage, error) {
	const what = "jobs"
	in, err := s.inspector(what)
	if err != nil {
		return JobsPage{}, err
	}
	p := FindJobsParams{Query: q}
	if p.Limit, err = pageSize(what, q.Limit); err != nil {
		return JobsPage{}, err
	}
	if err := checkStates(what, q.States); err != nil {
		return JobsPage{}, err
	}
	if q.Cursor != "" {
		if p.AfterCreatedAt, p.AfterID, err = decodeCursor(what, q.Cursor); err != nil {
			return JobsPage{}, err
		}
	}
	size := p.Limit
	p.Limit++ // one more tells whether there is a next page
	jobs, err := in.FindJobs(ctx, p)
	if err != nil {
		return JobsPage{}, opErr(err, "list jobs")
	}
	var page JobsPage
	page.Jobs, page.Next = firstPage(jobs, size, func(last *Job) string { return encodeCursor(last.CreatedAt, last.ID) })
	return page, nil
}

// firstPage returns the first size rows of rows, read with a limit of size+1, and the cursor
// of the next page, made from the last row returned, or "" if there is no next page.
func firstPage[T any](rows []T, size int, cursor func(last T) string) ([]T, string) {
	if len(rows) <= size {
		return rows, ""
	}
	rows = rows[:size]
	return rows, cursor(rows[size-1])
}

// Job returns the job with the given ID, or an error wrapping ErrNotFound. It needs no
// optional role of the Store.
func (s *Sender) Job(ctx context.Context, id string) (*Job, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, invalidf("webhook: job: id is empty")
	}
	jobs, err := s.store.Jobs(ctx, JobQuery{JobFilter: JobFilter{IDs: []string{id}}})
	if err != nil {
		return nil, opErr(err, "load job %q", id)
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("webhook: job %q: %w", id, ErrNotFound)
	}
	return jobs[0], nil
}

// AttemptLog returns a page of the attempts q selects, newest first (by Time, then the
// attempt recorded last first), and the cursor of the next page. Paging with the cursor
// neither repeats nor misses an attempt recorded before the first page was read.
//
// It returns an error wrapping ErrInvalid for a bad query (naming the field), and one
// wrapping errors.ErrUnsupported if the Store is not an [Inspector].
func (s *Sender) AttemptLog(ctx context.Context, q AttemptLogQuery) (AttemptPage, error) {
	const what = "attempt log"
	in, err := s.inspector(what)
	if err != nil {
		return AttemptPage{}, err
	}
	p := FindAttemptsParams{Query: q}
	if p.Limit, err = pageSize(what, q.Limit); err != nil {
		return AttemptPage{}, err
	}
	if c := q.StatusClass; c != 0 && c != -1 && (c < 2 || c > 5) {
		return AttemptPage{}, invalidf("webhook: %s: status class: %d is not 2, 3, 4, 5, -1 (no response) or 0 (any)", what, c)
	}
	for _, o := range q.Outcomes {
		switch o {
		case Succeeded, Retrying, Failed, Blocked, Skipped, Cancelled:
		default:
			return AttemptPage{}, invalidf("webhook: %s: outcomes: unknown outcome %q", what, o)
		}
	}
	if q.Cursor != "" {
		var seq string
		if p.AfterTime, seq, err = decodeCursor(what, q.Cursor); err != nil {
			return AttemptPage{}, err
		}
		if p.AfterSeq, err = strconv.ParseInt(seq, 10, 64); err != nil || p.AfterSeq <= 0 {
			return AttemptPage{}, invalidf("webhook: %s: cursor: %q is not a cursor of this list", what, q.Cursor)
		}
	}
	size := p.Limit
	p.Limit++
	as, err := in.FindAttempts(ctx, p)
	if err != nil {
		return AttemptPage{}, opErr(err, "list attempts")
	}
	var page AttemptPage
	page.Attempts, page.Next = firstPage(as, size, func(last Attempt) string {
		return encodeCursor(last.Time, strconv.FormatInt(last.Seq, 10))
	})
	return page, nil
}

// JobCounts returns how many jobs of each message are in each state: the progress of a
// message, or of a campaign (a campaign is a message). With no messageIDs it returns every
// message that has jobs; a message without jobs is left out. Results are in MessageID order.
// The Store keeps the counts as jobs change state, so this does not count jobs one by one.
//
// It returns an error wrapping errors.ErrUnsupported if the Store is not an [Inspector].
func (s *Sender) JobCounts(ctx context.Context, messageIDs ...string) ([]MessageCounts, error) {
	in, err := s.inspector("job counts")
	if err != nil {
		return nil, err
	}
	cs, err := in.CountJobs(ctx, CountJobsParams{MessageIDs: messageIDs})
	if err != nil {
		return nil, opErr(err, "count jobs")
	}
	return cs, nil
}

// Hosts returns, for each destination host attempted at or after since, in host order, the
// attempts made, how many succeeded, the latest attempt's time, and the host's circuit
// breaker as this Sender sees it (see HostStats.Breaker).
//
// It returns an error wrapping errors.ErrUnsupported if the Store is not an [Inspector].
func (s *Sender) Hosts(ctx context.Context, since time.Time) ([]HostStats, error) {
	in, err := s.inspector("hosts")
	if err != nil {
		return nil, err
	}
	hs, err := in.CountHosts(ctx, CountHostsParams{Since: since})
	if err != nil {
		return nil, opErr(err, "count hosts")
	}
	now := s.clock.Now()
	for i := range hs {
		hs[i].Breaker = s.exec.hosts.Breaker(hs[i].Host, now)
	}
	return hs, nil
}

// QueueStats returns how many jobs are scheduled, running and held, and when the job due the
// longest came due (see [QueueReader]). It returns an error wrapping errors.ErrUnsupported if
// the Store is not a QueueReader.
func (s *Sender) QueueStats(ctx context.Context) (QueueStats, error) {
	if err := s.made(); err != nil {
		return QueueStats{}, err
	}
	qr, err := role[QueueReader](s.store, "queue stats")
	if err != nil {
		return QueueStats{}, err
	}
	st, err := qr.QueueStats(ctx, QueueStatsParams{Now: s.clock.Now()})
	if err != nil {
		return QueueStats{}, opErr(err, "queue stats")
	}
	return st, nil
}

// ReplayOptions are the options of [Sender.Replay].
type ReplayOptions struct {
	// DryRun makes Replay count the jobs it would replay and change nothing.
	DryRun bool
}

// replayable are the states Replay replays when its query names none: succeeded jobs are
// replayed only when the query names JobSucceeded.
var replayable = []JobState{JobFailed, JobSkipped, JobCancelled}

// Replay moves the ended jobs that q selects back to the queue, due now, and returns how
// many it moved; with opts.DryRun it moves none and returns how many it would have, exactly.
// q.Cursor and q.Limit are not read: every job selected is replayed.
//
// Only ended jobs are replayed: failed, skipped and cancelled ones, and succeeded ones only
// if q.States names JobSucceeded; a state in q.States that has not ended is refused with an
// error wrapping ErrInvalid. A job skipped because its host was paused or its breaker open
// is replayed like any skipped job. A query that names no message, user, state or time is refused with an error wrapping
// ErrInvalid: a replay of the whole log by accident would send everything again.
//
// A replayed job keeps its ID, so receivers that deduplicate on the webhook-id header can
// drop a copy they already processed, and its attempt numbering continues, while the
// RetryPolicy counts its attempts from 1 again: a replay gets the retries of a new job. It
// goes through the same queue, rate limits, circuit breaker and audience check as any job,
// and its attempts are marked Attempt.Replay. A job's rendered request is cleared when the
// job ends (it holds credentials), so a replay renders the request again, from the job's
// message version, with the user as they are now.
//
// Two Senders replaying the same jobs at once replay each job once. Replay returns an error
// wrapping errors.ErrUnsupported if the Store is not an [Inspector].
func (s *Sender) Replay(ctx context.Context, q JobsQuery, opts ReplayOptions) (int, error) {
	return s.replay(ctx, q, nil, opts.DryRun)
}

// replay is Replay, restricted to ids if it is not empty.
func (s *Sender) replay(ctx context.Context, q JobsQuery, ids []string, dryRun bool) (int, error) {
	const what = "replay"
	in, err := s.inspector(what)
	if err != nil {
		return 0, err
	}
	if err := checkStates(what, q.States); err != nil {
		return 0, err
	}
	if err := (&ReplayJobsParams{Query: q, IDs: ids}).Check(); err != nil {
		return 0, err // before the states are defaulted, which would name something
	}
	if len(q.States) == 0 {
		q.States = replayable
	}
	n, err := in.ReplayJobs(ctx, ReplayJobsParams{Query: q, IDs: ids, Now: s.clock.Now(), DryRun: dryRun})
	if err != nil {
		return n, opErr(err, "replay jobs")
	}
	if n > 0 && !dryRun {
		s.disp.wakeForJobs()
	}
	return n, nil
}

// RetryJob makes the job with the given ID due now: a scheduled or held job is moved to
// scheduled with DueAt now, and an ended job is replayed as [Sender.Replay] replays it,
// succeeded or not. A job held because its campaign is paused is held again when it is
// claimed, as long as the campaign stays paused: [Sender.ResumeCampaign] sends it. It
// returns an error wrapping ErrNotFound if there is no such job, and one wrapping ErrInvalid
// if the job is running. Replaying needs the [Inspector] role.
func (s *Sender) RetryJob(ctx context.Context, id string) error {
	j, err := s.Job(ctx, id)
	if err != nil {
		return err
	}
	if j.State.Ended() {
		n, err := s.replay(ctx, JobsQuery{States: []JobState{j.State}}, []string{id}, false)
		if err == nil && n == 0 {
			err = invalidf("webhook: retry job %q: it changed state; try again", id)
		}
		return err
	}
	if j.State == JobRunning {
		return invalidf("webhook: retry job %q: it is running", id)
	}
	moved, err := s.store.UpdateJobs(ctx, UpdateJobsParams{
		Filter: JobFilter{IDs: []string{id}}, From: []JobState{JobScheduled, JobHeld}, To: JobScheduled, DueAt: s.clock.Now(),
	})
	if err != nil {
		return opErr(err, "retry job %q", id)
	}
	if len(moved) == 0 {
		return invalidf("webhook: retry job %q: it changed state; try again", id)
	}
	s.disp.wakeForJobs()
	return nil
}

// CancelJob cancels the job with the given ID, which must be scheduled or held: it will not
// be sent, and the attempt log gets a Cancelled attempt for it. It returns an error wrapping
// ErrNotFound if there is no such job, and one wrapping ErrInvalid if it is running or has
// ended.
func (s *Sender) CancelJob(ctx context.Context, id string) error {
	j, err := s.Job(ctx, id)
	if err != nil {
		return err
	}
	if j.State != JobScheduled && j.State != JobHeld {
		return invalidf("webhook: cancel job %q: it is %s; only scheduled and held jobs can be cancelled", id, j.State)
	}
	p := UpdateJobsParams{
		Filter: JobFilter{IDs: []string{id}}, From: []JobState{JobScheduled, JobHeld}, To: JobCancelled,
		Now: s.clock.Now(), Reason: "cancelled by an operator",
	}
	moved, err := s.store.UpdateJobs(ctx, p)
	if err != nil {
		return opErr(err, "cancel job %q", id)
	}
	if len(moved) == 0 {
		return invalidf("webhook: cancel job %q: it changed state; try again", id)
	}
	s.obs.cancelled(ctx, moved, p.Reason, p.Now)
	return nil
}
