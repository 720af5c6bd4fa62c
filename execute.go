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
	"strconv"
	"strings"
	"time"

	"github.com/hookline/webhook/internal/hostlimit"
	"go.opentelemetry.io/otel/trace"
)

// An attempt at a claimed job goes through two steps, as River's job executor does:
//
//   - [executor.decide] runs the checks in order — quiet hours, caps, the audience re-check,
//     the control group of an A/B test, rendering, the host and message rate limits,
//     signing — and then sends. Each check returns a verdict and writes nothing.
//   - [executor.report] turns the verdict into exactly one Store write (a [Finished] handed
//     to the completer, which writes it with others in one batch) and one log line.
//
// So decide is the one function that decides how an attempt ends, and report the one that
// records it.

// executor makes attempts at claimed jobs. It is safe for concurrent use: each worker runs
// one attempt at a time through it.
type executor struct {
	store    Store
	clock    Clock
	log      *slog.Logger
	client   *http.Client
	engine   *engine
	messages *messageCache
	catalog  *catalog
	zones    *zones
	retry    RetryPolicy
	hosts    *hostlimit.Limits
	caps     []Cap
	quiet    QuietHours
	capped   userLocks // users with a job being checked against caps and sent
	complete *completer
	timeout  time.Duration
	ua       string
	maxBody  int
	redact   *redactor
	obs      *observer
	// onResponse is Config.OnResponse.
	onResponse func(context.Context, *Response) error
}

// attempt is one attempt at a job, with what it loaded once: the job's compiled message and
// its user. A worker makes its attempts in one attempt it reuses (see executor.execute):
// nothing keeps an attempt once it is reported, and what the completer keeps (the job, the
// attempt log's record, the profile update, the request) is allocated apart.
type attempt struct {
	job    *Job
	number int        // the attempt's number: one more than the job's Attempts
	start  time.Time  // when it began, on the Clock
	span   trace.Span // the attempt's span, once started (see telemetry)
	msg    *compiledMessage
	msgErr error // why msg could not be loaded, if it is nil
	user   *User // loaded on first use (see loadUser)

	rec     *Attempt      // the attempt log's record, filled in as the attempt goes
	request *Request      // the request to send
	fresh   bool          // request was rendered by this attempt, and is saved for retries
	inPlace bool          // request is fresh and signed added its headers to it (see saved)
	host    string        // the destination host (and port), once rendered
	admit   time.Time     // the deadline the host limits admitted the attempt with, or zero
	res     AttemptResult // the HTTP outcome, for the retry policy and the breaker
	unlock  func()        // releases the user's caps lock once the outcome is recorded
	next    *Job          // a job parked for this attempt's host, to attempt next
	profile *UserUpdate   // the profile update the response made (see afterResponse), if any

	// vars and idOnly are where render builds the variables of a rendering and, for
	// templates that read no more of the user than its ID, the user.
	vars   vars
	idOnly User
}

// verdictKind says how an attempt ends.
type verdictKind int

const (
	// sent: the receiver answered 2xx.
	sent verdictKind = iota
	// held: the job waits until the verdict's time; no attempt is counted or logged (quiet
	// hours, a rate limit, a paused host).
	held
	// putBack: the Sender is stopping; the job goes back unsent, due at once, not counted.
	putBack
	// paused: the job's campaign is paused; the job is held until it is resumed, not counted.
	paused
	// parked: the job waits, in memory, for its failing host's attempt in flight to end; the
	// worker of that attempt makes it next. Nothing is written.
	parked
	// skipped: a rule says the job is not to be sent (a cap, the audience); it ends,
	// logged as Skipped.
	skipped
	// retrying: the attempt failed and the job is tried again at the verdict's time.
	retrying
	// failed: the attempt failed and the job ends.
	failed
)

// verdict is how an attempt ends: what decide returns and report records.
type verdict struct {
	kind verdictKind
	at   time.Time // when the job is next due, for held, putBack and retrying
	err  error     // why the job was not sent, for skipped, retrying and failed
}

// pass is the verdict of a check that lets the attempt go on.
var pass = verdict{kind: -1}

// passed reports whether v lets the attempt go on.
func (v verdict) passed() bool { return v.kind == pass.kind }

// execute makes one attempt at a claimed job and hands its outcome to the completer; then one
// at the job parked for its host, if its attempt freed the host. It makes them in at, the
// calling worker's own.
func (x *executor) execute(ctx context.Context, j *Job, at *attempt) {
	for j != nil {
		x.begin(at, j)
		at.msg, at.msgErr = x.messages.get(ctx, j.MessageID, j.MessageVersion)
		if at.msg != nil {
			at.rec.IgnoreCaps = at.msg.msg.Delivery.IgnoreCaps
		}
		x.report(ctx, at, x.decide(ctx, at))
		j = at.next
	}
	*at = attempt{} // the worker keeps nothing of the attempt, such as its response, while it waits
}

// newAttempt starts an attempt at j, now, in an attempt of its own.
func (x *executor) newAttempt(j *Job) *attempt {
	at := new(attempt)
	x.begin(at, j)
	return at
}

// begin starts an attempt at j, now, in at, clearing what an attempt made in it before held.
func (x *executor) begin(at *attempt, j *Job) {
	*at = attempt{job: j, number: j.Attempts + 1, start: x.clock.Now(), unlock: func() {}}
	at.rec = &Attempt{
		JobID:          j.ID,
		MessageID:      j.MessageID,
		MessageVersion: j.MessageVersion,
		UserID:         j.UserID,
		Variant:        j.Variant,
		Number:         at.number,
		Time:           at.start,
		Replay:         j.ReplayFrom > 0,
	}
}

// sinceReplay is the attempt's number as the RetryPolicy sees it: counted from the job's
// latest replay, if it was replayed.
func (at *attempt) sinceReplay() int {
	if from := at.job.ReplayFrom; from > 0 {
		return at.number - from + 1
	}
	return at.number
}

// loadUser returns the attempt's user, loading it from the Store on first use: quiet hours,
// the audience check and rendering may each need it.
func (x *executor) loadUser(ctx context.Context, at *attempt) (*User, error) {
	if at.user == nil {
		u, err := loadUser(ctx, x.store, at.job.UserID)
		if err != nil {
			return nil, err
		}
		at.user = &u
	}
	return at.user, nil
}

// decide runs the attempt's checks in order and sends the request if they all pass. It
// returns how the attempt ends, and writes nothing to the Store.
func (x *executor) decide(ctx context.Context, at *attempt) verdict {
	if at.msgErr != nil && at.job.Request == nil {
		// Nothing to send without the message; a rendered retry does not need it.
		return x.failure(ctx, at, at.msgErr, isPermanent(at.msgErr))
	}
	for _, check := range []func(context.Context, *attempt) verdict{
		x.checkCampaign, x.checkQuietHours, x.checkCaps, x.checkAudience, x.checkControl, x.render, x.throttle,
	} {
		v := check(ctx, at)
		switch {
		case v.passed():
			continue
		case ctx.Err() != nil && v.kind != held:
			// The Sender is stopping hard: what the check said may come of the stop.
			return verdict{kind: putBack, at: x.clock.Now()}
		}
		return v
	}
	req, err := x.signed(at)
	if err != nil {
		x.hostDone(ctx, at, hostlimit.Uncounted)
		return x.failure(ctx, at, err, isPermanent(err))
	}
	return x.send(ctx, at, req)
}

// failure is the verdict of an attempt that failed with err: final, or as the retry policy
// says. The Sender stopping hard puts the job back instead.
func (x *executor) failure(ctx context.Context, at *attempt, err error, final bool) verdict {
	if ctx.Err() != nil {
		return verdict{kind: putBack, at: x.clock.Now()}
	}
	at.res = AttemptResult{Attempt: at.sinceReplay(), Err: err, End: x.clock.Now()}
	return x.afterFailure(at, err, final)
}

// afterFailure asks the retry policy about a failed attempt whose result is at.res.
func (x *executor) afterFailure(at *attempt, err error, final bool) verdict {
	if !final && !errors.As(err, new(*BlockedError)) {
		if wait, ok := x.retry.NextRetry(at.res); ok {
			return verdict{kind: retrying, at: at.res.End.Add(wait), err: err}
		}
	}
	return verdict{kind: failed, err: err}
}

// isPermanent reports whether an error that stops a job from being rendered would stop it
// again: the message is gone or invalid, or a template cannot be rendered.
func isPermanent(err error) bool {
	return errors.As(err, new(*RenderError)) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid)
}

// checkCampaign holds a job whose campaign is paused, as the catalog says: one enqueued by a
// Sender that had not yet seen the pause, or claimed as it came.
func (x *executor) checkCampaign(ctx context.Context, at *attempt) verdict {
	cat, err := x.catalog.get(ctx)
	switch {
	case err != nil:
		return x.failure(ctx, at, err, false)
	case cat.states[at.job.MessageID] == CampaignPaused:
		return verdict{kind: paused}
	}
	return pass
}

// checkQuietHours holds a job that comes due in its user's quiet hours until they end.
func (x *executor) checkQuietHours(ctx context.Context, at *attempt) verdict {
	if x.quiet == (QuietHours{}) || at.msg == nil || at.msg.msg.Delivery.IgnoreQuietHours {
		return pass
	}
	u, err := x.loadUser(ctx, at)
	if err != nil {
		return x.failure(ctx, at, err, false)
	}
	if end, ok := x.quiet.until(at.start.In(x.zones.of(u))); ok {
		return verdict{kind: held, at: end}
	}
	return pass
}

// checkCaps skips the first attempt of a job that would exceed Config.Caps or its message's
// Delivery.Cap. A job checked against caps holds its user's lock until its outcome is
// recorded (see attempt.unlock), so that this Sender checks and sends one job to a user at a
// time and each check counts the sends before it.
func (x *executor) checkCaps(ctx context.Context, at *attempt) verdict {
	if at.number > 1 || at.msg == nil {
		return pass
	}
	caps := capsOf(x.caps, &at.msg.msg.Delivery, at.job.MessageID)
	if len(caps) == 0 {
		return pass
	}
	unlock, err := x.capped.lock(ctx, at.job.UserID)
	if err != nil {
		return verdict{kind: putBack, at: x.clock.Now()} // the Sender is stopping
	}
	at.unlock = unlock
	longest := time.Duration(0)
	for _, c := range caps {
		longest = max(longest, c.Per)
	}
	sent, err := x.store.Attempts(ctx, AttemptQuery{
		UserID: at.job.UserID, Outcomes: []Outcome{Succeeded}, Since: at.start.Add(-longest), Brief: true,
	})
	if err != nil {
		return x.failure(ctx, at, fmt.Errorf("count deliveries for caps: %w", err), false)
	}
	if reason := exceeded(caps, sent, at.start); reason != "" {
		return verdict{kind: skipped, err: errors.New(reason)}
	}
	return pass
}

// checkAudience skips a job, before its first attempt, whose user is no longer in its
// message's audience, unless the message is checked only when jobs are enqueued.
func (x *executor) checkAudience(ctx context.Context, at *attempt) verdict {
	if at.job.Request != nil || at.msg == nil || at.msg.audience == nil || at.msg.msg.CheckAudienceOnce {
		return pass
	}
	u, err := x.loadUser(ctx, at)
	in := false
	if err == nil {
		in, err = at.msg.audience.eval(&audienceEnv{ctx: ctx, store: x.store, user: u, now: at.start})
	}
	switch {
	case err != nil:
		return x.failure(ctx, at, err, errors.Is(err, ErrInvalid))
	case !in:
		return verdict{kind: skipped, err: errors.New("the user is not in the message's audience")}
	}
	return pass
}

// render renders the job's request, unless an earlier attempt did: every retry sends the
// same bytes.
func (x *executor) render(ctx context.Context, at *attempt) verdict {
	if at.job.Request == nil {
		var u *User
		if at.msg.forVariant(at.job.Variant).readsUser {
			var err error
			if u, err = x.loadUser(ctx, at); err != nil {
				return x.failure(ctx, at, err, false)
			}
		} else {
			at.idOnly = User{ID: at.job.UserID} // all the templates read of the user
			u = &at.idOnly
		}
		j := at.job
		at.vars = vars{user: u, params: j.Params, event: j.Event, message: at.msg.msg, variant: j.Variant, now: at.start}
		v := &at.vars
		req, host, err := x.engine.requestTo(at.msg.forVariant(j.Variant), v, j.ID, x.ua)
		if err != nil {
			return x.failure(ctx, at, err, isPermanent(err))
		}
		at.request, at.fresh, at.host = req, true, host
	} else {
		at.request, at.host = at.job.Request, requestHost(at.job.Request)
	}
	return pass
}

// throttle holds a rendered job back while its host's or its message's rate limit, or its
// host's breaker, says wait, or while its host, failing, has an attempt in flight. The job
// keeps its rendered request and comes due when it may go.
func (x *executor) throttle(_ context.Context, at *attempt) verdict {
	perMinute := 0
	if at.msg != nil {
		perMinute = at.msg.msg.MaxPerMinute
	}
	deadline := at.start.Add(x.timeout)
	wait, park := x.hosts.Admit(at.job, at.job.ID, at.host, at.job.MessageID, perMinute, at.start, deadline)
	switch {
	case park:
		return verdict{kind: parked}
	case wait > 0:
		return verdict{kind: held, at: at.start.Add(wait)}
	}
	at.admit = deadline
	return pass
}

// hostDone tells the host limits that the attempt they admitted ended as o says, logs the
// host's breaker opening and reports its opening or closing. A test send, which they did not
// admit, tells them nothing.
func (x *executor) hostDone(ctx context.Context, at *attempt, o hostlimit.Outcome) {
	if at.rec.Test {
		return
	}
	end := x.clock.Now()
	next, ch := x.hosts.Done(at.host, at.admit, o, end)
	at.next, _ = next.(*Job)
	until := end.Add(x.hosts.Cooldown())
	if ch == hostlimit.Opened {
		x.log.LogAttrs(ctx, slog.LevelWarn, "webhook: host paused after consecutive failures",
			slog.String("host", at.host), slog.Time("until", until))
	}
	x.obs.breaker(at.host, ch, end, until, at.job.MessageID == SystemMessageID)
}

// signed returns the request to send: the job's rendered request with a webhook-timestamp
// header and, if its message has secrets, a webhook-signature header. A request that an
// earlier attempt rendered is not changed, so every attempt sends the same body; one that
// this attempt rendered gets the headers itself, unless the trace context goes in its header
// too, and a retry sends it as [attempt.saved] returns it.
func (x *executor) signed(at *attempt) (*Request, error) {
	if at.msg == nil {
		return nil, at.msgErr // its secrets are unknown: never send it unsigned
	}
	r := at.request
	if at.fresh && !x.obs.tel.propagate {
		at.inPlace = true
	} else {
		c := *at.request
		c.Header = at.request.Header.Clone()
		r = &c
	}
	r.Header.Set("Webhook-Timestamp", strconv.FormatInt(at.start.Unix(), 10))
	if len(at.msg.msg.Secrets) > 0 {
		sig, err := Sign(at.msg.msg.Secrets, at.job.ID, at.start, r.Body)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Webhook-Signature", sig)
	}
	return r, nil
}

// saved returns the request that a retry of the job sends: the one this attempt rendered, as
// it was before signed added its headers to it. A message cannot set those headers itself
// (see reservedHeaders).
func (at *attempt) saved() *Request {
	if !at.inPlace {
		return at.request
	}
	r := *at.request
	r.Header = at.request.Header.Clone()
	r.Header.Del("Webhook-Timestamp")
	r.Header.Del("Webhook-Signature")
	return &r
}

// send makes the HTTP request and returns the verdict of its outcome. It feeds the outcome to
// the host's breaker.
func (x *executor) send(ctx context.Context, at *attempt, req *Request) verdict {
	ctx = x.obs.tel.startAttempt(ctx, at, req)
	a := at.rec
	a.Method, a.URL, a.RequestHeader, a.RequestBody = req.Method, redactURL(req.URL), x.redact.request(req.Header), string(req.Body)
	if a.Host = at.host; a.Host == "" { // a test send, which is not throttled
		a.Host = requestHost(req)
	}

	resp, body, err := x.do(ctx, req, x.readLimit(at.msg))
	if ctx.Err() != nil {
		x.hostDone(ctx, at, hostlimit.Uncounted)
		return verdict{kind: putBack, at: x.clock.Now()} // a hard stop cut it short: unlogged
	}
	at.res = AttemptResult{Attempt: at.sinceReplay(), Err: err, End: x.clock.Now()}
	if resp != nil {
		at.res.StatusCode, at.res.Header = resp.StatusCode, resp.Header
		a.StatusCode, a.ResponseHeader, a.ResponseBody = resp.StatusCode, x.redact.response(resp), string(body[:min(len(body), x.maxBody)])
	}
	switch {
	case err != nil && errors.As(err, new(*BlockedError)): // no target allocated without an error
		x.hostDone(ctx, at, hostlimit.Uncounted)
	case Retryable(at.res):
		x.hostDone(ctx, at, hostlimit.Failed)
	default:
		x.hostDone(ctx, at, hostlimit.Succeeded)
	}
	switch {
	case err != nil:
	case resp.StatusCode/100 == 2:
		return x.afterResponse(ctx, at, resp, body)
	default:
		err = errors.New("unexpected status " + resp.Status)
	}
	return x.afterFailure(at, err, false)
}

// do makes the HTTP request and reads up to limit bytes of the response body.
func (x *executor) do(ctx context.Context, r *Request, limit int) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, nil, redactURLError(err)
	}
	req.Header = r.Header // r is this attempt's own copy (see signed)
	resp, err := x.client.Do(req)
	if err != nil {
		return nil, nil, redactURLError(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength == 0 {
		return resp, nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)))
	if err != nil {
		// The status arrived; a body cut short does not change the outcome.
		return resp, body, nil
	}
	// Read a little more so a small body leaves the connection reusable; a large one is cut.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp, body, nil
}

// redactURLError removes secrets from the URL that net/http quotes in its errors.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return err
}

// putBack puts a claimed job that no attempt was made at back in the queue as it was: the
// dispatcher's, for a job that waited too long for a worker or that no worker started before
// the Sender stopped.
func (x *executor) putBack(ctx context.Context, j *Job) {
	x.report(ctx, x.newAttempt(j), verdict{kind: putBack, at: j.DueAt})
}

// report records how an attempt ended: it is the one place that turns a verdict into a Store
// write, a [Finished] handed to the completer, and the one place that logs it.
func (x *executor) report(ctx context.Context, at *attempt, v verdict) {
	if v.kind == parked {
		at.unlock() // the attempt made when the host is free checks caps again
		return
	}
	x.complete.add(x.finished(ctx, at, v), at.unlock)
}

// finished returns the Store write that records how an attempt ended — the job as it is to be
// saved, the attempt log's record if the attempt counts, and the profile update its response
// made — and logs the attempt and ends its span.
func (x *executor) finished(ctx context.Context, at *attempt, v verdict) Finished {
	j := at.job
	a := at.rec
	var logged *Attempt // the attempt log's record, if the attempt counts
	switch v.kind {
	case held, putBack:
		j.State, j.DueAt = JobScheduled, v.at
	case paused:
		j.State = JobHeld
	case sent:
		j.State, a.Outcome = JobSucceeded, Succeeded
	case skipped:
		j.State, a.Outcome = JobSkipped, Skipped
	case retrying:
		j.State, a.Outcome, j.DueAt, a.NextAttemptAt = JobScheduled, Retrying, v.at, v.at
	case failed:
		j.State, a.Outcome = JobFailed, Failed
		if errors.As(v.err, new(*BlockedError)) {
			a.Outcome = Blocked
		}
	}
	if v.kind != held && v.kind != putBack && v.kind != paused {
		j.Attempts = at.number
		if v.err != nil {
			a.Err = v.err.Error()
		}
		a.Duration = x.clock.Now().Sub(at.start)
		logged = a // its own allocation: the completer keeps it, not at, which holds the whole response
	}
	switch {
	case j.State.Ended():
		j.Request = nil // nothing will send it again, and it holds credentials
	case at.fresh && v.kind != putBack:
		j.Request = at.saved() // every retry sends the same bytes
	}
	f := Finished{Job: j, Attempt: logged}
	if v.kind == sent {
		f.User = at.profile
	}
	x.logVerdict(ctx, at, v)
	if logged != nil {
		x.obs.tel.endAttempt(at, logged, v.err, x.clock.Now().Sub(at.start))
	} else if at.span != nil {
		at.span.End() // a hard stop cut the send short: the job is put back
	}
	return f
}

// logVerdict logs how an attempt ended: sent attempts at debug level; retries, skipped jobs
// and jobs held back at info or debug; jobs that failed for good or were blocked at warn.
func (x *executor) logVerdict(ctx context.Context, at *attempt, v verdict) {
	level, msg := slog.LevelDebug, "webhook attempt"
	switch v.kind {
	case held:
		msg = "webhook: job held back by quiet hours, a rate limit or a paused host"
	case putBack:
		msg = "webhook: job put back unsent; the Sender is stopping"
	case paused:
		msg = "webhook: job held: its campaign is paused"
	case skipped:
		level, msg = slog.LevelInfo, "webhook: job skipped"
	case retrying:
		level = slog.LevelInfo
	case failed:
		level = slog.LevelWarn
	}
	if !x.log.Enabled(ctx, level) {
		return
	}
	a := at.rec
	attrs := []slog.Attr{
		slog.String("job_id", a.JobID), slog.String("message_id", a.MessageID),
		slog.String("user_id", a.UserID), slog.Int("attempt", a.Number),
	}
	if a.Outcome != "" {
		attrs = append(attrs, slog.String("outcome", string(a.Outcome)))
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
	if !v.at.IsZero() {
		attrs = append(attrs, slog.Time("due_at", v.at))
	}
	x.log.LogAttrs(ctx, level, msg, attrs...)
}

// requestHost is the host a request goes to, the key of its limiter and Attempt.Host:
// lower-case, with its port unless that is the scheme's default.
func requestHost(r *Request) string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return ""
	}
	return urlHost(u)
}

// urlHost is requestHost of a request to u.
func urlHost(u *url.URL) string {
	host := strings.ToLower(u.Host)
	if port := u.Port(); (port == "443" && u.Scheme == "https") || (port == "80" && u.Scheme == "http") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return host
}
