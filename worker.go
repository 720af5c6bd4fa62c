package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// run is the dispatcher: it claims due deliveries in batches, hands each to one of Workers
// long-lived worker goroutines, and otherwise waits. While deliveries are held (claimed and
// not yet finished) it waits for one of them to finish (or a wake-up); when none is held it
// waits on the Clock until the next delivery is due or PollInterval passes. So a Sender is
// idle exactly when its dispatcher waits on the Clock, which is what lets a test with a fake
// clock wait for it.
//
// When the lease is at least twice RequestTimeout, the dispatcher claims ahead: it holds up to
// twice Workers deliveries, so that a Store is asked for about Workers at a time rather than
// one each time a worker frees up (each claim is a write, and a durable Store's cost is per
// write). A delivery may wait for a worker for half of what its lease leaves beyond
// RequestTimeout; one that waited longer is put back instead of sent. So a delivery starts
// with at least RequestTimeout plus half that margin of its lease left (without claiming
// ahead, it starts with all of it), for the Store reads, rendering and the send.
func (s *Sender) run(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	defer s.closeIdleConnections() // once every worker is done
	defer s.listen(ctx)()
	capacity, maxWait := s.workers, time.Duration(0)
	if s.lease >= 2*s.timeout {
		capacity, maxWait = 2*s.workers, (s.lease-s.timeout)/2
	}
	finished := make(chan struct{}, capacity)
	todo := make(chan claimed, capacity) // never full: at most capacity jobs are held
	for range s.workers {
		// Long-lived workers keep the deep stacks that rendering grows, instead of growing a
		// new goroutine's stack for every delivery.
		go func() {
			for c := range todo {
				if maxWait > 0 && s.clock.Now().Sub(c.at) > maxWait {
					s.unclaim(c.job)
				} else {
					s.deliver(ctx, c.job)
				}
				finished <- struct{}{}
			}
		}()
	}
	held := 0
	defer func() {
		// Deliveries no worker has started go back to the queue as they were.
		for unstarted := true; unstarted; {
			select {
			case c := <-todo:
				s.unclaim(c.job)
				held--
			default:
				unstarted = false
			}
		}
		close(todo)
		for ; held > 0; held-- {
			<-finished
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if room := capacity - held; room > 0 && (held < s.workers || room >= s.workers) {
			now := s.clock.Now()
			jobs, err := s.store.Claim(ctx, now, s.id, s.lease, room)
			if err != nil {
				s.log.LogAttrs(ctx, slog.LevelError, "webhook: claim deliveries", slog.String("error", err.Error()))
			}
			for _, j := range jobs {
				held++
				todo <- claimed{j, now}
			}
			if len(jobs) == room {
				continue // there may be more due
			}
		}
		if s.fanOut(ctx) { // deliveries and fan-out pages take turns
			continue
		}
		if held > 0 {
			select {
			case <-finished:
				held--
			case <-s.wakeCh:
			case <-stop:
				return
			}
			continue
		}
		if !s.idle(ctx, stop) {
			return
		}
	}
}

// claimed is a delivery the dispatcher claimed, with the time it claimed it.
type claimed struct {
	job *Job
	at  time.Time
}

// idle waits on the Clock until the next delivery is due, PollInterval passes, or a wake-up
// comes. It returns false if the Sender is stopping.
func (s *Sender) idle(ctx context.Context, stop chan struct{}) bool {
	wait := s.poll
	next, ok, err := s.store.NextDue(ctx)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "webhook: find next due delivery", slog.String("error", err.Error()))
	} else if ok {
		wait = min(wait, next.Sub(s.clock.Now()))
	}
	wait = s.fanOutWait(ctx, wait)
	s.mu.Lock()
	if len(s.wakeCh) > 0 {
		s.mu.Unlock()
		<-s.wakeCh
		return true
	}
	t := s.clock.NewTimer(wait)
	s.idleTimer = t
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		t.Stop()
		if s.idleTimer == t {
			s.idleTimer = nil
		}
		s.mu.Unlock()
	}()
	select {
	case <-t.C():
	case <-s.wakeCh:
	case <-stop:
		return false
	}
	return true
}

// deliver makes one attempt to send a claimed delivery and records it.
func (s *Sender) deliver(ctx context.Context, j *Job) {
	start := s.clock.Now()
	j.Attempts++
	a := &Attempt{
		DeliveryID:     j.ID,
		MessageID:      j.MessageID,
		MessageVersion: j.MessageVersion,
		UserID:         j.UserID,
		Number:         j.Attempts,
		Time:           start,
	}
	res := AttemptResult{Attempt: a.Number}
	u := &attemptUser{s: s, id: j.UserID}
	done, ok := s.admit(ctx, j, a, u)
	defer done()
	if !ok {
		return
	}
	if j.Request == nil {
		if s.leftAudience(ctx, j, a, u) {
			return
		}
		req, err := s.render(ctx, j, start, u)
		switch {
		case ctx.Err() != nil:
			s.release(j)
			return
		case err != nil:
			a.Err = err.Error()
			a.Duration = s.clock.Now().Sub(start)
			var re *RenderError
			s.conclude(ctx, j, a, AttemptResult{Attempt: a.Number, Err: err}, errors.As(err, &re) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid))
			return
		}
		j.Request = req
	}
	host := requestHost(j.Request)
	if s.throttle(ctx, j, host, start) {
		return
	}
	req, err := s.signed(ctx, j, start)
	if err != nil {
		a.Err = err.Error()
		s.conclude(ctx, j, a, AttemptResult{Attempt: a.Number, Err: err}, true)
		return
	}
	shown := req.Redacted()
	a.Method, a.URL, a.RequestHeader, a.RequestBody = shown.Method, shown.URL, s.hideHeaders(shown.Header), string(shown.Body)

	resp, body, err := s.send(ctx, req)
	if ctx.Err() != nil {
		// The Sender is stopping hard: put the delivery back, unlogged, to be sent again.
		s.release(j)
		return
	}
	a.Duration = s.clock.Now().Sub(start)
	if err != nil {
		a.Err = err.Error()
		res.Err = err
	} else {
		a.StatusCode, a.ResponseHeader, a.ResponseBody = resp.StatusCode, s.responseHeader(resp), body
		res.StatusCode, res.Header = resp.StatusCode, resp.Header
		if resp.StatusCode/100 != 2 {
			a.Err = "unexpected status " + resp.Status
		}
	}
	if !errors.As(err, new(*BlockedError)) {
		s.observe(ctx, host, res)
	}
	s.conclude(ctx, j, a, res, false) // conclude fails a refused connection for good, as Blocked
}

// attemptUser is the user of a delivery, loaded from the Store at most once per attempt:
// quiet hours, the audience check and rendering may each need it.
type attemptUser struct {
	s      *Sender
	id     string
	loaded bool
	u      User
	err    error
}

// get returns the user, loading it on first use.
func (a *attemptUser) get(ctx context.Context) (User, error) {
	if !a.loaded {
		a.u, a.err = a.s.user(ctx, a.id)
		a.loaded = true
	}
	return a.u, a.err
}

// render renders a delivery's request with the message version it was enqueued with.
func (s *Sender) render(ctx context.Context, j *Job, now time.Time, au *attemptUser) (*Request, error) {
	cm, err := s.compiled(ctx, j.MessageID, j.MessageVersion)
	if err != nil {
		return nil, err
	}
	u := User{ID: j.UserID} // all the templates read of the user, unless readsUser
	if cm.readsUser {
		if u, err = au.get(ctx); err != nil {
			return nil, err
		}
	}
	v := &vars{user: u, params: j.Params, event: j.Event, message: cm.msg, now: now}
	return s.engine.request(cm, v, j.ID, s.ua)
}

// compiled returns the compiled templates of a message version, compiling it on first use.
func (s *Sender) compiled(ctx context.Context, id string, version int) (*compiledMessage, error) {
	if cm, ok := s.templates.get(id, version); ok {
		return cm, nil
	}
	m, err := s.store.Message(ctx, id, version)
	if err != nil {
		return nil, fmt.Errorf("load message %q version %d: %w", id, version, err)
	}
	cm, err := s.engine.compile(m)
	if err != nil {
		return nil, err
	}
	s.templates.put(id, version, cm)
	return cm, nil
}

// send makes the HTTP request and reads up to MaxResponseBody bytes of the response body.
func (s *Sender) send(ctx context.Context, r *Request) (*http.Response, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, "", redactURLError(err)
	}
	req.Header = r.Header // r is this attempt's own copy (see signed)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, "", redactURLError(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength == 0 {
		return resp, "", nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.maxBody)))
	if err != nil {
		// The status arrived; a body cut short does not change the outcome.
		return resp, string(body), nil
	}
	// Read a little more so a small body leaves the connection reusable; a large one is cut.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp, string(body), nil
}

// responseHeader returns a response's header as the attempt log keeps it (see logHeader):
// a redacted copy, or the header itself when it has nothing to redact and no RetryPolicy sees
// it (2xx).
func (s *Sender) responseHeader(resp *http.Response) http.Header {
	h := logHeader(resp.Header)
	if resp.StatusCode/100 == 2 && !s.hasSecret(h) {
		return h
	}
	return s.hideHeaders(redactHeader(h))
}

// hasSecret reports whether h has a header whose value the attempt log hides.
func (s *Sender) hasSecret(h http.Header) bool {
	for k := range h {
		if sensitiveName(k) {
			return true
		}
	}
	for _, name := range s.sensitive {
		if _, ok := h[name]; ok {
			return true
		}
	}
	return false
}

// redactURLError removes secrets from the URL that net/http quotes in its errors.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return err
}

// conclude decides what follows an attempt (success, retry, or failure; final makes any
// failure final), records the attempt and saves the delivery.
func (s *Sender) conclude(ctx context.Context, j *Job, a *Attempt, res AttemptResult, final bool) {
	end := s.clock.Now()
	res.End = end
	var blocked *BlockedError
	switch {
	case res.Err == nil && res.StatusCode/100 == 2:
		a.Outcome, j.State = Succeeded, JobSucceeded
	case errors.As(res.Err, &blocked):
		a.Outcome, j.State = Blocked, JobFailed
	default:
		a.Outcome, j.State = Failed, JobFailed
		if final {
			break
		}
		if wait, ok := s.retry.NextRetry(res); ok {
			a.Outcome, j.State = Retrying, JobScheduled
			a.NextAttemptAt = end.Add(wait)
			j.DueAt = a.NextAttemptAt
		}
	}
	s.finish(ctx, j, a)

	level := slog.LevelDebug
	switch a.Outcome {
	case Retrying:
		level = slog.LevelInfo
	case Failed, Blocked:
		level = slog.LevelWarn
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("delivery_id", a.DeliveryID), slog.String("message_id", a.MessageID),
		slog.String("user_id", a.UserID), slog.Int("attempt", a.Number),
		slog.String("outcome", string(a.Outcome)),
	}
	if a.URL != "" {
		attrs = append(attrs, slog.String("method", a.Method), slog.String("url", a.URL))
	}
	if a.StatusCode != 0 {
		attrs = append(attrs, slog.Int("status", a.StatusCode))
	}
	if a.Err != "" {
		attrs = append(attrs, slog.String("error", a.Err))
	}
	if !a.NextAttemptAt.IsZero() {
		attrs = append(attrs, slog.Time("next_attempt_at", a.NextAttemptAt))
	}
	s.log.LogAttrs(ctx, level, "webhook attempt", attrs...)
}

// release puts a delivery whose attempt was cut short by a hard stop back in the queue, due
// now, with the attempt not counted.
func (s *Sender) release(j *Job) {
	s.putOff(context.Background(), j, s.clock.Now())
}

// putOff puts a claimed delivery whose attempt did not happen back in the queue, unlogged and
// with the attempt not counted, due at due.
func (s *Sender) putOff(ctx context.Context, j *Job, due time.Time) {
	j.Attempts--
	j.State, j.DueAt = JobScheduled, due
	s.finish(ctx, j, nil)
}

// unclaim puts a claimed delivery back in the queue, unlogged, to be claimed again.
func (s *Sender) unclaim(j *Job) {
	j.State = JobScheduled
	s.finish(context.Background(), j, nil)
}

// finish saves a delivery and its attempt. The Store is given its own time limit: a Sender
// that is stopping still records what it did. A delivery finished for good keeps no request:
// nothing will send it again, and it holds credentials.
func (s *Sender) finish(ctx context.Context, j *Job, a *Attempt) {
	if j.State != JobScheduled {
		j.Request = nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.store.Finish(ctx, j, a)
	switch {
	case errors.Is(err, ErrLeaseLost):
		s.log.LogAttrs(ctx, slog.LevelWarn, "webhook: delivery lease lost; another sender has it",
			slog.String("delivery_id", j.ID))
	case err != nil:
		s.log.LogAttrs(ctx, slog.LevelError, "webhook: record attempt; the delivery will be retried when its lease expires",
			slog.String("delivery_id", j.ID), slog.String("error", err.Error()))
	}
}
