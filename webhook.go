package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a [Sender]. The zero Config, or nil, gives every default.
type Config struct {
	// Clock tells the time and wakes the Sender when deliveries come due. Tests use
	// webhooktest.FakeClock. Defaults to the system clock.
	Clock Clock
	// HTTPClient sends the requests. Its CheckRedirect is replaced so that redirects are never
	// followed, and it is used as given otherwise: the private-address guard is part of the
	// default client's transport only (see [Dialer] to keep it with your own). Defaults to a
	// client whose transport dials through a Dialer with AllowNetworks, uses no proxy, does
	// not ask for compressed responses, and reads at most 64 KiB of response headers (more
	// fails the attempt as a network error does).
	HTTPClient *http.Client
	// Logger receives structured logs: attempts at debug level; retries, skipped and
	// cancelled deliveries at info; deliveries that fail for good or are blocked, lost leases
	// and paused hosts at warn; Store errors at error. Secrets are never logged. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Workers is how many deliveries are sent at once. Defaults to 16.
	Workers int
	// RetryPolicy decides which failed attempts are retried and when. Defaults to
	// DefaultRetryPolicy{}: 5 retries after 1, 2, 4, 8 and 16 minutes.
	RetryPolicy RetryPolicy
	// AllowNetworks are address ranges the private-address guard lets the default client
	// reach, such as 127.0.0.0/8 for tests and local development. Defaults to none.
	AllowNetworks []netip.Prefix
	// RequestTimeout bounds each attempt, from dialing to the end of the response body, in
	// real time. Defaults to 30 seconds.
	RequestTimeout time.Duration
	// MissingAsEmpty renders a missing template variable as empty instead of failing the
	// delivery; in a JSON body, a Data value that is only the missing variable is null, as a
	// one-expression value keeps its type. Defaults to false.
	MissingAsEmpty bool
	// UserAgent is the User-Agent header of requests whose message sets none. Defaults to
	// "hookline-webhook/1".
	UserAgent string
	// MaxResponseBody is how many bytes of each response body the attempt log keeps.
	// Defaults to 16 KiB.
	MaxResponseBody int
	// Lease is how long a claimed delivery stays leased to this Sender; if the Sender dies,
	// another one may send it after the lease expires. It must exceed RequestTimeout.
	// Defaults to RequestTimeout plus 1 minute.
	//
	// A lease of at least twice RequestTimeout (the default's, for timeouts up to a minute)
	// lets the Sender claim ahead: it holds up to twice Workers deliveries and asks the Store
	// for about Workers at a time, rather than for one each time a worker frees up, which
	// saves a durable Store most of its claim writes. A delivery held for longer than half of
	// (Lease - RequestTimeout) is put back unsent, so that it starts with RequestTimeout and a
	// margin of its lease left; Stop puts back those no worker started.
	Lease time.Duration
	// PollInterval is how often an idle Sender checks the Store for deliveries that other
	// Senders enqueued, and how often any Sender checks it for campaigns that other Senders
	// started or resumed (a Sender whose workers are all sending checks when the next send
	// ends, within RequestTimeout). Deliveries enqueued and campaigns started by this Sender
	// wake it at once, and so do those of other Senders if the Store is a [Notifier] that
	// notifies them. Defaults to 1 second.
	PollInterval time.Duration
	// ID names this Sender in leases and logs. Defaults to a random ID.
	ID string
	// DefaultTimeZone is the time zone of users whose User.TimeZone is empty, for deliveries
	// at a local time and for quiet hours. Defaults to UTC.
	DefaultTimeZone *time.Location
	// HostRate is how many requests per second, on average, the Sender sends to one
	// destination host (and port); deliveries held back wait in the Store, due when they may
	// go, and are not counted as attempts. Defaults to 50; negative means no limit.
	HostRate float64
	// HostBurst is how many requests to one host may go at once before HostRate applies.
	// Defaults to 10.
	HostBurst int
	// BreakerThreshold is how many attempts in a row to one host may fail (network errors,
	// timeouts, 408, 409, 429, 5xx) before the host is paused for BreakerCooldown:
	// deliveries to a paused host wait in the Store, not counted as attempts, instead of
	// using up their retries. After the cool-down, one more failure pauses it again; a
	// success closes the breaker. Defaults to 20; negative means no breaker.
	BreakerThreshold int
	// BreakerCooldown is how long a host is paused. Defaults to 1 minute.
	BreakerCooldown time.Duration
	// SensitiveHeaders are more header names whose values are redacted from the attempt log
	// and logs, beyond those whose names contain "auth", "token", "secret", "key",
	// "password", "passwd", "session", "signature", "credential" or "cookie" (Authorization
	// and Cookie among them). Case does not matter. Defaults to none.
	SensitiveHeaders []string
	// Caps limit how many deliveries each user is sent across all messages, such as at most
	// 3 in any 24 hours and 10 in any 7 days: []Cap{{3, 24 * time.Hour}, {10, 7 * 24 *
	// time.Hour}}. A delivery of any kind that would exceed a cap when it comes due is not
	// sent: it is logged as Skipped. Messages with Delivery.IgnoreCaps are exempt. Defaults to
	// none: no cap.
	Caps []Cap
	// QuietHours is a daily period, in each user's time zone, during which deliveries are
	// held and sent when it ends. Messages with Delivery.IgnoreQuietHours are exempt.
	// Defaults to none.
	QuietHours QuietHours
}

// Sender renders, sends, retries and logs webhook deliveries. Create one with [NewSender],
// save messages with [Sender.SaveMessage], then [Sender.Start] it to send deliveries as they
// come due; [Sender.Trigger] and [Sender.Send] enqueue deliveries whether or not it is
// started.
//
// A Sender is safe for concurrent use. Several Senders, in one process or many, may share a
// Store that supports it, such as store/pgstore: each delivery is sent by one of them. Every
// method of a Sender that NewSender did not make, such as the zero Sender or a nil *Sender,
// returns an error wrapping ErrInvalid.
type Sender struct {
	store   Store
	clock   Clock
	client  *http.Client
	log     *slog.Logger
	engine  *engine
	retry   RetryPolicy
	workers int
	timeout time.Duration
	lease   time.Duration
	poll    time.Duration
	ua      string
	maxBody int
	id      string
	zone    *time.Location // for users without a time zone
	zones   sync.Map       // time zone name → *time.Location, loaded once
	limits  *limits        // rate limits and circuit breakers
	// sensitive are Config.SensitiveHeaders, canonicalized.
	sensitive []string
	// transport is client's transport if the Sender made it (the default client's), else nil.
	transport *http.Transport

	targetings versionCache[*targeting] // compiled Where and Audience of saved messages
	caps       []Cap                    // per-user delivery caps across messages
	quiet      QuietHours               // when deliveries are held, or the zero QuietHours
	capped     userLocks                // users with a delivery being checked against caps and sent

	templates versionCache[*compiledMessage] // compiled templates of saved messages

	wakeCh chan struct{} // holds a pending wake-up for the dispatcher
	// recheck is set by wake: campaigns may have changed since the dispatcher last read when
	// the next fan-out is due.
	recheck atomic.Bool
	next    nextFanOut // the dispatcher's own

	mu        sync.Mutex // guards the fields below
	started   bool
	idleTimer Timer              // the dispatcher's timer while it is idle, or nil
	stopCh    chan struct{}      // closed by Stop
	done      chan struct{}      // closed when the dispatcher has returned
	cancel    context.CancelFunc // cancels in-flight sends
}

// NewSender returns a Sender that keeps its data in store. A nil cfg means the zero Config.
// It returns an error wrapping ErrInvalid if cfg is invalid.
func NewSender(store Store, cfg *Config) (*Sender, error) {
	if store == nil {
		return nil, invalidf("webhook: NewSender: nil Store")
	}
	if cfg == nil {
		cfg = &Config{}
	}
	var ps problems
	for _, f := range []struct {
		name string
		v    int64
	}{ // in the order of Config's fields, so that problems are listed in that order
		{"Workers", int64(cfg.Workers)}, {"RequestTimeout", int64(cfg.RequestTimeout)},
		{"MaxResponseBody", int64(cfg.MaxResponseBody)}, {"Lease", int64(cfg.Lease)},
		{"PollInterval", int64(cfg.PollInterval)}, {"HostBurst", int64(cfg.HostBurst)},
		{"BreakerCooldown", int64(cfg.BreakerCooldown)},
	} {
		if f.v < 0 {
			ps.add(f.name, "must not be negative")
		}
	}
	s := &Sender{
		store:   store,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		engine:  newEngine(cfg.MissingAsEmpty),
		retry:   cfg.RetryPolicy,
		workers: orDefault(cfg.Workers, 16),
		timeout: orDefault(cfg.RequestTimeout, 30*time.Second),
		poll:    orDefault(cfg.PollInterval, time.Second),
		ua:      orDefault(cfg.UserAgent, defaultUserAgent),
		maxBody: orDefault(cfg.MaxResponseBody, 16<<10),
		id:      cfg.ID,
		zone:    cfg.DefaultTimeZone,
		caps:    slices.Clone(cfg.Caps),
		quiet:   cfg.QuietHours,
		wakeCh:  make(chan struct{}, 1),
		limits:  newLimits(cfg),
	}
	for _, name := range cfg.SensitiveHeaders {
		s.sensitive = append(s.sensitive, http.CanonicalHeaderKey(name))
	}
	s.lease = orDefault(cfg.Lease, s.timeout+time.Minute)
	if s.lease <= s.timeout {
		ps.add("Lease", "%v does not exceed RequestTimeout (%v)", s.lease, s.timeout)
	}
	validateCaps(s.caps, s.quiet, &ps)
	if hasLineBreak(s.ua) {
		ps.add("UserAgent", "contains a line break")
	}
	if err := ps.err("Config"); err != nil {
		return nil, err
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.retry == nil {
		s.retry = DefaultRetryPolicy{}
	}
	if s.zone == nil {
		s.zone = time.UTC
	}
	if s.id == "" {
		s.id = newID("sender", s.clock.Now())
	}
	s.client, s.transport = newClient(cfg.HTTPClient, cfg.AllowNetworks, s.workers)
	return s, nil
}

// errNotMade is what the methods of a Sender that [NewSender] did not make return.
var errNotMade error = invalidError("webhook: Sender not made by NewSender")

// made returns errNotMade if NewSender did not make s.
func (s *Sender) made() error {
	if s == nil || s.store == nil {
		return errNotMade
	}
	return nil
}

// newClient returns the client requests are sent with: c, or the default guarded client,
// never following redirects; and the default client's transport, or nil if c is not nil.
func newClient(c *http.Client, allow []netip.Prefix, workers int) (*http.Client, *http.Transport) {
	var client http.Client
	var own *http.Transport
	if c != nil {
		client = *c
	} else {
		d := &Dialer{AllowNetworks: allow}
		own = &http.Transport{
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   workers,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
			// Go's default lets a receiver make each attempt hold 10 MiB of headers.
			MaxResponseHeaderBytes: 64 << 10,
		}
		client.Transport = own
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client, own
}

// closeIdleConnections closes the keep-alive connections of the Sender's own transport, once
// its workers are done: they would otherwise stay open, each with two goroutines, for the
// transport's IdleConnTimeout. A connection that becomes idle afterwards is closed too, as
// [http.Transport.CloseIdleConnections] says, until another request is made. A
// Config.HTTPClient is the caller's to close.
func (s *Sender) closeIdleConnections() {
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
}

// SaveMessage validates m and saves it as a new version in the Store, setting m.Version. It
// returns a [*ValidationError] listing every problem if m is invalid (see
// [Message.Validate]). Deliveries already enqueued keep the version they were enqueued with.
func (s *Sender) SaveMessage(ctx context.Context, m *Message) error {
	if err := s.made(); err != nil {
		return err
	}
	cm, err := s.engine.compile(m)
	if err != nil {
		return err
	}
	if err := s.store.PutMessage(ctx, cm.msg); err != nil {
		return fmt.Errorf("webhook: save message %q: %w", m.ID, err)
	}
	m.Version = cm.msg.Version
	s.templates.put(m.ID, m.Version, cm)
	return nil
}

// Identify saves u in the Store, replacing any user with the same ID; if u.CreatedAt is zero
// it keeps the saved user's, or uses the Clock's time for a new user. It returns an error
// wrapping ErrInvalid if u has no ID, an unknown time zone, or attributes that are not JSON
// values.
func (s *Sender) Identify(ctx context.Context, u User) error {
	if err := s.made(); err != nil {
		return err
	}
	var ps problems
	if u.ID == "" {
		ps.add("id", "required")
	}
	if u.TimeZone != "" {
		if _, err := time.LoadLocation(u.TimeZone); err != nil {
			ps.add("time_zone", "unknown time zone %q", u.TimeZone)
		}
	}
	attrs, err := normalizeMap(u.Attributes, 0)
	if err != nil {
		ps.add("attributes", "%v", err)
	}
	if err := ps.err(fmt.Sprintf("user %q", u.ID)); err != nil {
		return err
	}
	u.Attributes = attrs
	if u.CreatedAt.IsZero() {
		old, err := s.store.User(ctx, u.ID)
		switch {
		case err == nil:
			u.CreatedAt = old.CreatedAt
		case errors.Is(err, ErrNotFound):
			u.CreatedAt = s.clock.Now()
		default:
			return fmt.Errorf("webhook: identify %q: %w", u.ID, err)
		}
	}
	if err := s.store.PutUser(ctx, u); err != nil {
		return fmt.Errorf("webhook: identify %q: %w", u.ID, err)
	}
	return nil
}

// Trigger reports that a user did something. It saves the event and, for every message
// Triggered by an event of that name whose Delivery.Where the event's parameters meet and
// whose Audience includes the user (event criteria count this event), enqueues a delivery
// to the user (due after the message's Delivery.Delay; none if Delivery.Once and the user
// had one), in one Store change where the Store can make it atomic. A started Sender is woken
// at once to send them. Then it cancels the user's pending deliveries of messages whose
// Delivery.Unless names the event.
//
// A user that was never identified is a user with only an ID. Trigger returns an error
// wrapping ErrInvalid if e has no UserID or Name or its Params are not JSON values, and the
// Store's error if the event could not be saved or an audience could not be checked, in
// which case nothing was saved or enqueued, or if deliveries could not be cancelled, in
// which case calling it again with the same event ID is safe.
func (s *Sender) Trigger(ctx context.Context, e Event) error {
	if err := s.made(); err != nil {
		return err
	}
	return s.trigger(ctx, s.store, e)
}

// trigger is Trigger writing to store, the Sender's Store or a view of it (see TriggerTx).
func (s *Sender) trigger(ctx context.Context, store Store, e Event) error {
	var ps problems
	if e.UserID == "" {
		ps.add("user_id", "required")
	}
	if e.Name == "" {
		ps.add("name", "required")
	}
	params, err := normalizeMap(e.Params, 0)
	if err != nil {
		ps.add("params", "%v", err)
	}
	if err := ps.err(fmt.Sprintf("event %q", e.Name)); err != nil {
		return err
	}
	now := s.clock.Now()
	e.Params = params
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.ID == "" {
		e.ID = newID("evt", now)
	}
	msgs, err := store.TriggeredMessages(ctx, e.Name)
	if err != nil {
		return fmt.Errorf("webhook: trigger %q: %w", e.Name, err)
	}
	jobs := make([]*Job, 0, len(msgs))
	for _, m := range msgs {
		if ok, err := s.eventTriggers(ctx, m, &e, now); err != nil {
			return fmt.Errorf("webhook: trigger %q: %w", e.Name, err)
		} else if !ok {
			continue
		}
		j := s.newJob(m, e.UserID, "event:"+e.ID, now, params)
		j.Event = &Event{ID: e.ID, UserID: e.UserID, Name: e.Name, Time: e.Time}
		m.Delivery.onTrigger(j, e, now)
		jobs = append(jobs, j)
	}
	if err := store.AddEvent(ctx, e, jobs); err != nil {
		return fmt.Errorf("webhook: trigger %q: %w", e.Name, err)
	}
	if err := s.cancelUnless(ctx, store, e, now); err != nil {
		return fmt.Errorf("webhook: trigger %q: %w", e.Name, err)
	}
	if len(jobs) > 0 {
		s.wakeForDeliveries()
	}
	return nil
}

// Send enqueues a delivery of the current version of a message to one user, due now, and
// returns its delivery ID: the server-to-server call of a Manual message, which works for
// messages of any kind. params are available to templates as parameter. A user that was
// never identified is a user with only an ID.
//
// It returns an error wrapping ErrNotFound if there is no such message, and one wrapping
// ErrInvalid if userID is empty or params are not JSON values.
func (s *Sender) Send(ctx context.Context, messageID, userID string, params map[string]any) (string, error) {
	if err := s.made(); err != nil {
		return "", err
	}
	var ps problems
	if userID == "" {
		ps.add("user_id", "required")
	}
	p, err := normalizeMap(params, 0)
	if err != nil {
		ps.add("params", "%v", err)
	}
	if err := ps.err(fmt.Sprintf("send of %q", messageID)); err != nil {
		return "", err
	}
	m, err := s.store.Message(ctx, messageID, 0)
	if err != nil {
		return "", fmt.Errorf("webhook: send %q: %w", messageID, err)
	}
	now := s.clock.Now()
	j := s.newJob(m, userID, "", now, p)
	if err := s.store.Enqueue(ctx, []*Job{j}); err != nil {
		return "", fmt.Errorf("webhook: send %q: %w", messageID, err)
	}
	s.wakeForDeliveries()
	return j.ID, nil
}

// newJob returns a delivery of m to a user, due now. An empty occurrence makes the delivery
// unique.
func (s *Sender) newJob(m *Message, userID, occurrence string, now time.Time, params Map) *Job {
	id := newID("dlv", now)
	if occurrence == "" {
		occurrence = "send:" + id
	}
	return &Job{
		ID:             id,
		Key:            jobKey(m.ID, userID, occurrence),
		MessageID:      m.ID,
		MessageVersion: m.Version,
		UserID:         userID,
		Params:         params,
		State:          JobScheduled,
		CreatedAt:      now,
		DueAt:          now,
	}
}

// Preview renders m for a user as it would be sent, without sending, saving or logging
// anything: for tests, and for a UI that shows the request before launch. A Triggered
// message is rendered as if its event had happened with params. The returned request holds
// credentials; call [Request.Redacted] before showing it.
//
// It returns a [*ValidationError] if m is invalid, an error wrapping [ErrInvalid] if m is nil
// or params cannot be sent, a [*RenderError] if m cannot be rendered for the user, and the Store's
// error if the user cannot be loaded.
func (s *Sender) Preview(ctx context.Context, m *Message, userID string, params map[string]any) (*Request, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	cm, err := s.engine.compile(m)
	if err != nil {
		return nil, err
	}
	p, err := normalizeMap(params, 0)
	if err != nil {
		return nil, invalidf("webhook: preview params: %v", err)
	}
	u, err := s.user(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	v := &vars{user: u, params: p, message: cm.msg, now: now}
	if m.Delivery.kind() == Triggered {
		v.event = &Event{Name: m.Delivery.Event, UserID: userID, Time: now}
	}
	return s.engine.request(cm, v, newID("dlv", now), s.ua)
}

// location returns u's time zone, or the default time zone if u has none. Identify accepts
// only time zones that load, so an unknown one (from a Store written by other code) is
// treated as none.
func (s *Sender) location(u User) *time.Location {
	if u.TimeZone == "" {
		return s.zone
	}
	if loc, ok := s.zones.Load(u.TimeZone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(u.TimeZone)
	if err != nil {
		return s.zone
	}
	s.zones.Store(u.TimeZone, loc)
	return loc
}

// user returns the user with the given ID, or a user with only that ID if there is none.
func (s *Sender) user(ctx context.Context, id string) (User, error) {
	u, err := s.store.User(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{ID: id}, nil
	}
	if err != nil {
		return User{}, fmt.Errorf("webhook: load user %q: %w", id, err)
	}
	return u, nil
}

// Attempts returns the attempts f selects from the attempt log, newest first.
func (s *Sender) Attempts(ctx context.Context, f AttemptFilter) ([]Attempt, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	return s.store.Attempts(ctx, f)
}

// Start starts sending deliveries as they come due, in background goroutines, and returns.
// Cancelling ctx stops the Sender as [Sender.Stop] does with an expired context. It returns
// ErrSenderStarted if the Sender was started before.
func (s *Sender) Start(ctx context.Context) error {
	if err := s.made(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrSenderStarted
	}
	s.started = true
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.stopCh = make(chan struct{})
	s.done = make(chan struct{})
	go s.run(work, s.stopCh, s.done)
	go func() {
		select {
		case <-ctx.Done():
			cancel()
			s.closeStop()
		case <-s.done:
		}
	}()
	return nil
}

// closeStop asks the dispatcher to stop.
func (s *Sender) closeStop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopCh:
	default:
		close(s.stopCh)
	}
}

// Stop stops claiming deliveries and waits until those in flight are sent and logged, or until
// ctx ends; then it cancels the sends still in flight, which are put back in the queue
// unlogged, to be sent again, and returns ctx's error. When it returns, no goroutine of the
// Sender is left and the connections its default HTTP client kept open are closed. Stop on a
// Sender that is not started returns nil.
func (s *Sender) Stop(ctx context.Context) error {
	if err := s.made(); err != nil {
		return err
	}
	s.mu.Lock()
	started, done, cancel := s.started, s.done, s.cancel
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.closeStop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

// wake makes the dispatcher look for due deliveries and campaign fan-outs at once. The
// wake-up is not lost if the dispatcher is busy: it looks again when it is next idle.
func (s *Sender) wake() {
	s.recheck.Store(true)
	s.wakeForDeliveries()
}

// wakeForDeliveries is wake after a change to deliveries only, which leaves when the next
// fan-out is due as it was: the dispatcher looks for due deliveries at once, and keeps what
// it last read of campaigns.
func (s *Sender) wakeForDeliveries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
	// Stopping the idle timer here, rather than letting the dispatcher do it, means that a
	// fake clock sees no waiter from the moment a delivery is enqueued until the Sender is
	// idle again.
	if s.idleTimer != nil {
		s.idleTimer.Stop()
		s.idleTimer = nil
	}
}
