package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookline/webhook/internal/hostlimit"
)

// Hooks are functions of the host app that a Sender calls when something happened to its
// jobs, campaigns and destination hosts: an attempt was recorded, a job ended, a campaign
// changed state, a host's circuit breaker opened or closed. A nil function is not called.
//
// A hook is called after the Store has recorded what it reports (a breaker's state is not
// stored: it is called when the breaker changes), never on the path of a job: the Sender puts
// a notice of each change in a queue of at most QueueSize notices and moves on, and one
// goroutine per Sender takes them from the queue in order and calls the hooks, one call at a
// time, in the order the changes were recorded. So a slow hook delays the hooks after it, not
// the sending. When the queue is full, a new notice is dropped: its hooks are not called (nor
// is its system webhook enqueued), the metric webhook.hooks.dropped counts it, and the number
// dropped is logged at warn once the queue has room again. A hook that panics is recovered
// and the panic logged at error; the next notice is handled as usual.
//
// Hooks receive what the attempt log and the Store keep, never secrets: attempts with
// credentials redacted (see [Request.Redacted]), and no rendered request. The context they
// are given is cancelled when [Sender.Stop] gives up waiting for the queue.
type Hooks struct {
	// AttemptFinished is called when an attempt is recorded in the attempt log: sent,
	// failed (for good or to be retried), blocked or skipped. It is not called for jobs held
	// back or put back unsent, which are not attempts, nor for cancelled jobs (see JobEnded).
	AttemptFinished func(ctx context.Context, a Attempt)
	// JobEnded is called when a job ended: after the attempt that ended it, or when the
	// Sender cancelled it (its campaign was cancelled, its message deleted, an Unless event
	// came, or [Sender.CancelJob] was called).
	JobEnded func(ctx context.Context, e JobEnd)
	// CampaignChanged is called when a campaign changed state: a run started, it was
	// paused, resumed or cancelled, or its fan-out finished.
	CampaignChanged func(ctx context.Context, c CampaignChange)
	// BreakerChanged is called when a destination host's circuit breaker opened (the host is
	// paused; see Config.BreakerThreshold) or closed (an attempt succeeded again).
	BreakerChanged func(ctx context.Context, b BreakerChange)
	// QueueSize is how many notices may wait for the hooks and the system webhook. Defaults
	// to 10,000.
	QueueSize int
}

// defaultHookQueue is the default of Hooks.QueueSize.
const defaultHookQueue = 10_000

// A NoticeType names a kind of change that the Sender reports to [Hooks] and forwards to a
// [SystemWebhook], as the "type" of the system webhook's payload.
type NoticeType string

// The types of notices.
const (
	// NoticeAttemptFinished: an attempt was recorded; the data is an [Attempt].
	NoticeAttemptFinished NoticeType = "attempt.finished"
	// NoticeJobEnded: a job ended; the data is a [JobEnd].
	NoticeJobEnded NoticeType = "job.ended"
	// NoticeCampaignChanged: a campaign changed state; the data is a [CampaignChange].
	NoticeCampaignChanged NoticeType = "campaign.changed"
	// NoticeBreakerOpened: a host's breaker opened; the data is a [BreakerChange].
	NoticeBreakerOpened NoticeType = "breaker.opened"
	// NoticeBreakerClosed: a host's breaker closed; the data is a [BreakerChange].
	NoticeBreakerClosed NoticeType = "breaker.closed"
)

// noticeTypes are the known notice types.
var noticeTypes = []NoticeType{NoticeAttemptFinished, NoticeJobEnded, NoticeCampaignChanged, NoticeBreakerOpened, NoticeBreakerClosed}

// JobEnd is how a job ended, for Hooks.JobEnded and system webhooks.
type JobEnd struct {
	JobID          string `json:"job_id"`
	MessageID      string `json:"message_id"`
	MessageVersion int    `json:"message_version"`
	UserID         string `json:"user_id"`
	// State is how it ended: JobSucceeded, JobFailed, JobSkipped or JobCancelled.
	State JobState `json:"state"`
	// Attempts counts the attempts made.
	Attempts int `json:"attempts"`
	// Reason says why a job that did not succeed ended: the last attempt's error, the rule
	// that skipped it, or what cancelled it.
	Reason string `json:"reason,omitempty"`
	// CreatedAt is when the job was enqueued, and Time when it ended, on the Sender's Clock.
	CreatedAt time.Time `json:"created_at"`
	Time      time.Time `json:"time"`
}

// CampaignChange is a change of a campaign's state, for Hooks.CampaignChanged and system
// webhooks.
type CampaignChange struct {
	MessageID string `json:"message_id"`
	Run       int    `json:"run"`
	// State is the campaign's state after the change, and Finished reports whether its
	// fan-out is done: it is running with nothing left to enqueue.
	State    CampaignState `json:"state"`
	Finished bool          `json:"finished,omitempty"`
	// Previous is the state of the same run before the change; empty when a run started.
	Previous CampaignState `json:"previous,omitempty"`
	// Time is when it changed, on the Sender's Clock.
	Time time.Time `json:"time"`
}

// BreakerChange is the opening or closing of a destination host's circuit breaker, for
// Hooks.BreakerChanged and system webhooks.
type BreakerChange struct {
	// Host is the host (and port) the breaker guards.
	Host string `json:"host"`
	// Open reports whether the breaker opened; false if it closed.
	Open bool `json:"open"`
	// Until is when an open breaker lets the next attempt through.
	Until time.Time `json:"until,omitzero"`
	// Time is when it changed, on the Sender's Clock.
	Time time.Time `json:"time"`
}

// notice is one change, for the hooks and the system webhook.
type notice struct {
	typ  NoticeType
	data any // Attempt, JobEnd, CampaignChange or BreakerChange
	time time.Time
	// system reports whether a system webhook's job caused it, which is not forwarded.
	system bool
}

// observer is where the Sender reports what happened once it is recorded: it counts it in
// the metrics and queues a notice of it for the hooks and the system webhook. It is safe for
// concurrent use.
type observer struct {
	clock  Clock
	log    *slog.Logger
	tel    *telemetry
	hooks  Hooks
	queue  *noticeQueue // nil if there are no hooks and no system webhook
	system *forwarder   // nil if there is no system webhook
}

// newObserver returns the observer that c asks for; s is the Sender, whose Store the system
// webhook's jobs are enqueued in.
func newObserver(s *Sender, c *Config) *observer {
	o := &observer{clock: s.clock, log: s.log, tel: newTelemetry(c), hooks: c.Hooks}
	if c.SystemWebhook != nil {
		o.system = newForwarder(s, c.SystemWebhook)
	}
	h := &c.Hooks
	if o.system != nil || h.AttemptFinished != nil || h.JobEnded != nil || h.CampaignChanged != nil || h.BreakerChanged != nil {
		o.queue = newNoticeQueue(o.handle, orDefault(h.QueueSize, defaultHookQueue), s.log, o.tel)
	}
	return o
}

// validate adds the problems of h to ps.
func (h *Hooks) validate(ps *problems) {
	if h.QueueSize < 0 {
		ps.add("Hooks.QueueSize", "must not be negative")
	}
}

// notify queues a notice, if anyone listens.
func (o *observer) notify(n notice) {
	if o.queue != nil {
		o.queue.push(n)
	}
}

// finished reports the outcome of an attempt that the completer wrote: f, with err the
// Store's error for it (nil if saved) and all the error of the whole write (nil if it was
// made). The attempt is recorded unless all is not nil; the job ended if it was saved in a
// state that is an end.
func (o *observer) finished(ctx context.Context, f *Finished, err, all error) {
	if all != nil {
		return
	}
	j, system := f.Job, f.Job.MessageID == SystemMessageID
	if a := f.Attempt; a != nil {
		o.tel.recordAttempt(ctx, j, a)
		if o.queue != nil {
			o.notify(notice{typ: NoticeAttemptFinished, data: *a, time: a.Time.Add(a.Duration), system: system})
		}
	}
	if err != nil || !j.State.Ended() {
		return
	}
	o.tel.recordJobEnded(ctx, j.State, j.MessageID)
	if o.queue != nil {
		end := JobEnd{
			JobID: j.ID, MessageID: j.MessageID, MessageVersion: j.MessageVersion, UserID: j.UserID,
			State: j.State, Attempts: j.Attempts, CreatedAt: j.CreatedAt, Time: o.clock.Now(),
		}
		if a := f.Attempt; a != nil {
			end.Reason, end.Time = a.Err, a.Time.Add(a.Duration)
		}
		o.notify(notice{typ: NoticeJobEnded, data: end, time: end.Time, system: system})
	}
}

// cancelled reports jobs that the Store cancelled at now, for reason.
func (o *observer) cancelled(ctx context.Context, jobs []*Job, reason string, now time.Time) {
	for _, j := range jobs {
		o.tel.recordJobEnded(ctx, JobCancelled, j.MessageID)
		o.notify(notice{typ: NoticeJobEnded, time: now, system: j.MessageID == SystemMessageID, data: JobEnd{
			JobID: j.ID, MessageID: j.MessageID, MessageVersion: j.MessageVersion, UserID: j.UserID,
			State: JobCancelled, Attempts: j.Attempts, Reason: reason, CreatedAt: j.CreatedAt, Time: now,
		}})
	}
}

// campaignChanged reports that a campaign saved as old (the zero Campaign if there was none)
// was saved as c, if that changed its run, its state or whether it is finished.
func (o *observer) campaignChanged(old, c *Campaign) {
	finished := c.State == CampaignRunning && c.NextAt.IsZero()
	change := CampaignChange{MessageID: c.MessageID, Run: c.Run, State: c.State, Finished: finished, Time: o.clock.Now()}
	if old.Rev != 0 && old.Run == c.Run {
		if old.State == c.State && (old.State == CampaignRunning && old.NextAt.IsZero()) == finished {
			return
		}
		change.Previous = old.State
	}
	o.notify(notice{typ: NoticeCampaignChanged, data: change, time: change.Time})
}

// breaker reports what an attempt of a job did to its host's breaker, at end; until is when
// an open breaker lets the next attempt through, and system reports whether the job was a
// system webhook's.
func (o *observer) breaker(host string, ch hostlimit.Change, end, until time.Time, system bool) {
	switch ch {
	case hostlimit.Opened:
		o.notify(notice{typ: NoticeBreakerOpened, data: BreakerChange{Host: host, Open: true, Until: until, Time: end}, time: end, system: system})
	case hostlimit.Closed:
		o.notify(notice{typ: NoticeBreakerClosed, data: BreakerChange{Host: host, Time: end}, time: end, system: system})
	}
}

// handle calls the hooks for a batch of notices, in order, then forwards them to the system
// webhook. Only the queue's goroutine calls it.
func (o *observer) handle(ctx context.Context, batch []notice) {
	h := &o.hooks
	for i := range batch {
		n := &batch[i]
		switch d := n.data.(type) {
		case Attempt:
			if h.AttemptFinished != nil {
				o.call(ctx, n.typ, func() { h.AttemptFinished(ctx, d) })
			}
		case JobEnd:
			if h.JobEnded != nil {
				o.call(ctx, n.typ, func() { h.JobEnded(ctx, d) })
			}
		case CampaignChange:
			if h.CampaignChanged != nil {
				o.call(ctx, n.typ, func() { h.CampaignChanged(ctx, d) })
			}
		case BreakerChange:
			if h.BreakerChanged != nil {
				o.call(ctx, n.typ, func() { h.BreakerChanged(ctx, d) })
			}
		}
	}
	if o.system != nil {
		o.system.forward(ctx, batch)
	}
}

// call calls a hook for a notice of type typ, and recovers and logs its panic.
func (o *observer) call(ctx context.Context, typ NoticeType, hook func()) {
	defer func() {
		if r := recover(); r != nil {
			o.log.LogAttrs(ctx, slog.LevelError, "webhook: hook panicked",
				slog.String("notice", string(typ)), slog.String("panic", fmt.Sprint(r)))
		}
	}()
	hook()
}

// noticeQueue is the bounded queue of notices between the Sender and its hooks. A goroutine
// takes the notices from it, as many as are queued at a time, and hands them to handle; it
// runs while there are notices and ends when the queue is empty, so a Sender that is not
// started calls its hooks too, and no goroutine is left waiting on an idle queue.
type noticeQueue struct {
	handle  func(context.Context, []notice)
	size    int
	log     *slog.Logger
	tel     *telemetry
	mu      sync.Mutex // guards the fields below
	items   []notice
	spare   []notice           // the slice that the goroutine handed over last, for reuse
	done    chan struct{}      // closed when the goroutine ends; nil if it is not running
	dropped int                // notices dropped since the last log of it
	ctx     context.Context    // the hooks' context
	cancel  context.CancelFunc // cancels ctx
}

func newNoticeQueue(handle func(context.Context, []notice), size int, log *slog.Logger, tel *telemetry) *noticeQueue {
	q := &noticeQueue{handle: handle, size: size, log: log, tel: tel}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	return q
}

// push queues n, or drops it if the queue is full. It never blocks for long: it takes a
// lock that the goroutine holds only to take the notices.
func (q *noticeQueue) push(n notice) {
	q.mu.Lock()
	if len(q.items) >= q.size {
		q.dropped++
		q.mu.Unlock()
		q.tel.hooksDropped.Add(context.Background(), 1)
		return
	}
	q.items = append(q.items, n)
	if q.done == nil {
		q.done = make(chan struct{})
		go q.run(q.ctx, q.done)
	}
	q.mu.Unlock()
}

// run hands the queued notices over until the queue is empty, then closes done.
func (q *noticeQueue) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	for {
		q.mu.Lock()
		batch, dropped := q.items, q.dropped
		if len(batch) == 0 {
			q.done = nil
			q.mu.Unlock()
			return
		}
		q.items, q.spare, q.dropped = q.spare[:0], nil, 0
		q.mu.Unlock()
		if dropped > 0 {
			q.log.LogAttrs(ctx, slog.LevelWarn, "webhook: notices dropped: the hook queue was full",
				slog.Int("dropped", dropped), slog.Int("queue_size", q.size))
		}
		q.handle(ctx, batch)
		clear(batch) // keep no attempt beyond its hooks
		q.mu.Lock()
		q.spare = batch[:0]
		q.mu.Unlock()
	}
}

// wait waits until the queue is empty and its goroutine has ended, or until ctx ends: then
// it drops the notices still queued, cancels the context of the hook being called, and
// returns ctx's error.
func (q *noticeQueue) wait(ctx context.Context) error {
	q.mu.Lock()
	done := q.done
	q.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	q.dropped += len(q.items)
	q.tel.hooksDropped.Add(context.Background(), int64(len(q.items)))
	q.items = q.items[:0]
	q.cancel()
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.mu.Unlock()
	return ctx.Err()
}
