package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Sender renders, sends, retries and logs webhooks. Create one with [NewSender], save
// messages with [Sender.SaveMessage], then [Sender.Start] it to send jobs as they come due;
// [Sender.Trigger], [Sender.Send] and [Sender.StartCampaign] enqueue jobs whether or not it is
// started.
//
// A Sender is safe for concurrent use. Several Senders, in one process or many, may share a
// Store that supports it, such as store/pgstore: each job is sent by one of them. Every
// method of a Sender that NewSender did not make, such as the zero Sender or a nil *Sender,
// returns an error wrapping ErrInvalid.
//
// A Sender is a facade over two parts: a dispatcher, which claims due jobs and runs campaign
// fan-outs, and an executor, which makes each attempt (see execute.go).
type Sender struct {
	store    Store
	clock    Clock
	log      *slog.Logger
	engine   *engine
	messages *messageCache
	zones    *zones
	exec     *executor
	disp     *dispatcher
	ua       string
	// transport is the client's transport if the Sender made it (the default client's),
	// else nil.
	transport *http.Transport

	mu      sync.Mutex         // guards the fields below
	started bool               // between Start and the end of Stop
	stopCh  chan struct{}      // closed to stop the dispatcher
	done    chan struct{}      // closed when the dispatcher has returned
	cancel  context.CancelFunc // cancels in-flight sends
}

// NewSender returns a Sender that keeps its data in store. A nil cfg means the zero Config.
// It returns an error wrapping ErrInvalid if store is nil or cfg is invalid.
func NewSender(store Store, cfg *Config) (*Sender, error) {
	if store == nil {
		return nil, invalidf("webhook: NewSender: nil Store")
	}
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sender{
		store:  store,
		clock:  orDefault[Clock](cfg.Clock, systemClock{}),
		log:    cfg.Logger,
		engine: newEngine(cfg.MissingAsEmpty),
		zones:  &zones{def: cfg.DefaultTimeZone},
		ua:     orDefault(cfg.UserAgent, defaultUserAgent),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.zones.def == nil {
		s.zones.def = time.UTC
	}
	s.messages = &messageCache{store: store, engine: s.engine}
	workers := orDefault(cfg.Workers, defaultWorkers)
	var client *http.Client
	client, s.transport = cfg.newClient(workers)
	s.exec = &executor{
		store:    store,
		clock:    s.clock,
		log:      s.log,
		client:   client,
		engine:   s.engine,
		messages: s.messages,
		zones:    s.zones,
		retry:    orDefault[RetryPolicy](cfg.RetryPolicy, DefaultRetryPolicy{}),
		hosts:    cfg.hostLimits(),
		caps:     slices.Clone(cfg.Caps),
		quiet:    cfg.QuietHours,
		timeout:  cfg.timeout(),
		ua:       s.ua,
		maxBody:  orDefault(cfg.MaxResponseBody, defaultMaxResponseBody),
		redact:   newRedactor(cfg.SensitiveHeaders),
	}
	id := orDefault(cfg.ID, newID("sender", s.clock.Now()))
	poll := orDefault(cfg.PollInterval, defaultPollInterval)
	s.disp = &dispatcher{
		store:   store,
		clock:   s.clock,
		log:     s.log,
		exec:    s.exec,
		id:      id,
		workers: workers,
		lease:   cfg.lease(),
		timeout: cfg.timeout(),
		poll:    poll,
		wakeCh:  make(chan struct{}, 1),
		fanOut: &fanOuter{
			store: store, clock: s.clock, log: s.log, messages: s.messages, zones: s.zones,
			id: id, lease: cfg.lease(), poll: poll,
		},
	}
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

// SaveMessage validates m and saves it as a new version in the Store, setting m.Version. It
// returns a [*ValidationError] listing every problem if m is invalid (see
// [Message.Validate]). Jobs already enqueued keep the version they were enqueued with.
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
	s.messages.compiled.put(m.ID, m.Version, cm)
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
	p := PutUsersParams{Users: []UserUpdate{{User: u, Replace: true}}, Now: s.clock.Now()}
	if err := s.store.PutUsers(ctx, p); err != nil {
		return fmt.Errorf("webhook: identify %q: %w", u.ID, err)
	}
	return nil
}

// Send enqueues a job of the current version of a message to one user, due now, and returns
// its ID: the server-to-server call of a Manual message, which works for messages of any
// kind. params are available to templates as parameter. A user that was never identified is
// a user with only an ID.
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
	m, err := loadMessage(ctx, s.store, messageID, 0)
	if err != nil {
		return "", fmt.Errorf("webhook: send %q: %w", messageID, err)
	}
	j := newJob(m, userID, "", s.clock.Now(), p)
	res, err := s.store.Enqueue(ctx, EnqueueParams{Jobs: []*Job{j}})
	if err != nil {
		return "", fmt.Errorf("webhook: send %q: %w", messageID, err)
	}
	s.disp.wakeForJobs()
	return res.JobIDs[0], nil
}

// newJob returns a job of m to a user, due now. An empty occurrence makes the job unique.
func newJob(m *Message, userID, occurrence string, now time.Time, params Map) *Job {
	id := newID("job", now)
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
// or params cannot be sent, a [*RenderError] if m cannot be rendered for the user, and the
// Store's error if the user cannot be loaded.
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
	u, err := loadUser(ctx, s.store, userID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	v := &vars{user: u, params: p, message: cm.msg, now: now}
	if m.Delivery.kind() == Triggered {
		v.event = &Event{Name: m.Delivery.Event, UserID: userID, Time: now}
	}
	return s.engine.request(cm, v, newID("job", now), s.ua)
}

// loadUser returns the user with the given ID from store, or a user with only that ID if
// there is none.
func loadUser(ctx context.Context, store UserStore, id string) (User, error) {
	us, err := store.Users(ctx, UserQuery{IDs: []string{id}})
	if err != nil {
		return User{}, fmt.Errorf("webhook: load user %q: %w", id, err)
	}
	if len(us) == 0 {
		return User{ID: id}, nil
	}
	return us[0], nil
}

// Attempts returns the attempts q selects from the attempt log, newest first (see
// [AttemptStore.Attempts]).
func (s *Sender) Attempts(ctx context.Context, q AttemptQuery) ([]Attempt, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	return s.store.Attempts(ctx, q)
}

// Start starts sending jobs as they come due, in background goroutines, and returns.
// Cancelling ctx stops the Sender as [Sender.Stop] does with an expired context: in-flight
// sends are cancelled and their jobs put back. It returns ErrSenderStarted if the Sender is
// running; a Sender that was stopped may be started again.
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
	stop, done := make(chan struct{}), make(chan struct{})
	s.cancel, s.stopCh, s.done = cancel, stop, done
	go s.disp.run(work, stop, done)
	go func() {
		select {
		case <-ctx.Done():
			cancel()
			s.closeStop(stop)
		case <-done:
		}
	}()
	return nil
}

// closeStop asks the dispatcher to stop.
func (s *Sender) closeStop(stop chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-stop:
	default:
		close(stop)
	}
}

// Stop stops claiming jobs and waits until those in flight are sent and their outcomes
// recorded, or until ctx ends; then it cancels the sends still in flight, whose jobs are put
// back in the queue unlogged, to be sent again, and returns ctx's error. When it returns, no
// goroutine of the Sender is left and the connections its default HTTP client kept open are
// closed. Stop on a Sender that is not started returns nil.
func (s *Sender) Stop(ctx context.Context) error {
	if err := s.made(); err != nil {
		return err
	}
	s.mu.Lock()
	started, stop, done, cancel := s.started, s.stopCh, s.done, s.cancel
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.closeStop(stop)
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		cancel()
		<-done
		err = ctx.Err()
	}
	cancel()
	s.closeIdleConnections()
	s.mu.Lock()
	if s.done == done {
		s.started = false
	}
	s.mu.Unlock()
	return err
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
