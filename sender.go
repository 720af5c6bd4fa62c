package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
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
	catalog  *catalog
	zones    *zones
	exec     *executor
	disp     *dispatcher
	obs      *observer
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
	poll := orDefault(cfg.PollInterval, defaultPollInterval)
	s.catalog = &catalog{store: store, clock: s.clock, ttl: poll}
	s.obs = newObserver(s, cfg)
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
		catalog:  s.catalog,
		zones:    s.zones,
		retry:    orDefault[RetryPolicy](cfg.RetryPolicy, DefaultRetryPolicy{}),
		hosts:    cfg.hostLimits(),
		caps:     slices.Clone(cfg.Caps),
		quiet:    cfg.QuietHours,
		timeout:  cfg.timeout(),
		ua:       s.ua,
		maxBody:  orDefault(cfg.MaxResponseBody, defaultMaxResponseBody),
		redact:   newRedactor(cfg.SensitiveHeaders),
		obs:      s.obs,

		onResponse: cfg.OnResponse,
	}
	id := orDefault(cfg.ID, newID("sender", s.clock.Now()))
	s.disp = &dispatcher{
		store:   store,
		clock:   s.clock,
		log:     s.log,
		exec:    s.exec,
		catalog: s.catalog,
		id:      id,
		workers: workers,
		lease:   cfg.lease(),
		timeout: cfg.timeout(),
		poll:    poll,
		wakeCh:  make(chan struct{}, 1),
		fanOut: &fanOuter{
			store: store, clock: s.clock, log: s.log, messages: s.messages, zones: s.zones,
			id: id, lease: cfg.lease(), poll: poll, obs: s.obs,
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

// SaveMessage validates m and saves it as a new version in the Store, setting m.Version and
// m.Snippets (the versions of the snippets it loads, current now). A message the same as its
// current version (once defaults are applied) is not saved again: it keeps its version, so an
// app that saves its messages at every start adds no versions. It returns a
// [*ValidationError] listing every problem if m is invalid (see [Message.Validate]), a
// snippet it loads is missing or loads itself, and an error wrapping errors.ErrUnsupported
// for a message with Variants if the Store is not a [VariantStore]. Jobs already enqueued
// keep the version they were enqueued with.
func (s *Sender) SaveMessage(ctx context.Context, m *Message) error {
	if err := s.made(); err != nil {
		return err
	}
	cm, err := s.compileToSave(ctx, m, newCurrentSnippets(ctx, s.store))
	if err != nil {
		return err
	}
	return s.saveCompiled(ctx, m, cm)
}

// saveCompiled saves cm, compiled from m, unless it is the same as the current version, and
// sets m's Version and Snippets to those saved.
func (s *Sender) saveCompiled(ctx context.Context, m *Message, cm *compiledMessage) error {
	m.Snippets = cm.msg.Snippets
	cur, err := loadMessage(ctx, s.store, m.ID, 0)
	switch {
	case err == nil && sameMessage(cur, cm.msg):
		m.Version = cur.Version
		return nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return opErr(err, "save message %q", m.ID)
	}
	if err := s.store.PutMessage(ctx, cm.msg); err != nil {
		return opErr(err, "save message %q", m.ID)
	}
	m.Version = cm.msg.Version
	s.messages.compiled.put(m.ID, m.Version, cm)
	s.catalog.invalidate()
	return nil
}

// sameMessage reports whether two versions of a message say the same, as their JSON forms
// do.
func sameMessage(a, b *Message) bool {
	x, y := *a, *b
	x.Version, y.Version = 0, 0
	return sameJSON(&x, &y)
}

// sameJSON reports whether a and b have the same JSON form.
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// Message returns a version of a message (its current version if version is 0), or an error
// wrapping ErrNotFound. A deleted message's versions are still returned.
func (s *Sender) Message(ctx context.Context, id string, version int) (*Message, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	m, err := loadMessage(ctx, s.store, id, version)
	if err != nil {
		return nil, opErr(err, "message %q", id)
	}
	return m, nil
}

// Messages returns a page of the messages saved and not deleted, at their current versions,
// in ID order: up to limit of them whose IDs sort after after. Pass "" for the first page and
// the last ID of a page for the next; a page shorter than limit is the last.
func (s *Sender) Messages(ctx context.Context, after string, limit int) ([]*Message, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	ms, err := s.store.Messages(ctx, MessageQuery{After: after, Limit: limit})
	if err != nil {
		return nil, opErr(err, "messages")
	}
	return ms, nil
}

// DeleteMessage deletes a message: its pending jobs (scheduled or held) are cancelled, each
// logged as an attempt with Outcome Cancelled, its campaign is cancelled, and it no longer
// appears in [Sender.Messages] or triggers anything. Jobs being sent are not stopped, and its
// versions can still be read with [Sender.Message], as the attempt log refers to them. Saving
// a message with the same ID again makes it anew, at the next version. It returns an error
// wrapping ErrNotFound if there is no such message.
func (s *Sender) DeleteMessage(ctx context.Context, id string) error {
	if err := s.made(); err != nil {
		return err
	}
	if err := s.store.DeleteMessage(ctx, id); err != nil {
		return opErr(err, "delete message %q", id)
	}
	s.catalog.invalidate()
	if c, err := loadCampaign(ctx, s.store, id); err != nil {
		return opErr(err, "delete message %q", id)
	} else if c != nil {
		if err := s.setCampaignState(ctx, id, CampaignCancelled); err != nil {
			return err
		}
	}
	p := cancelJobs(id, s.clock.Now())
	p.Reason = "message deleted"
	cancelled, err := s.store.UpdateJobs(ctx, p)
	if err != nil {
		return opErr(err, "delete message %q: cancel jobs", id)
	}
	s.obs.cancelled(ctx, cancelled, p.Reason, p.Now)
	return nil
}

// Identify saves what the host app knows of a user, merging it into what the Store has, as
// Leanplum's setUserAttributes and Iterable's user updates do: the fields of u that are not
// zero replace the stored ones, each attribute of u replaces the stored attribute of that
// name, and the other attributes are kept. A new user's CreatedAt is the Clock's time unless
// u sets it. [Sender.UpdateUsers] replaces users whole, removes attributes, and saves many
// users at once.
//
// It returns an error wrapping ErrInvalid if u has no ID, an unknown time zone, or attributes
// that are not JSON values.
func (s *Sender) Identify(ctx context.Context, u User) error {
	if err := s.made(); err != nil {
		return err
	}
	return s.updateUsers(ctx, s.store, []UserUpdate{{User: u}})
}

// UpdateUsers saves many users in one Store change: each update merges its User into the
// stored user as [Sender.Identify] does and removes the attributes named in Unset, or with
// Replace replaces the stored user whole (keeping its CreatedAt if User has none). It is the
// bulk form of Identify, for imports: a durable Store saves a batch with one statement.
//
// It returns a [*ValidationError] listing the problems of every update, with paths such as
// "users[3].time_zone", and saves nothing if there is one.
func (s *Sender) UpdateUsers(ctx context.Context, updates []UserUpdate) error {
	if err := s.made(); err != nil {
		return err
	}
	return s.updateUsers(ctx, s.store, updates)
}

// updateUsers is UpdateUsers writing to store, the Sender's Store or a view of it.
func (s *Sender) updateUsers(ctx context.Context, store Store, updates []UserUpdate) error {
	var ps problems
	out := make([]UserUpdate, len(updates))
	for i, up := range updates {
		path := ""
		if len(updates) > 1 {
			path = fmt.Sprintf("users[%d].", i)
		}
		u := up.User
		if u.ID == "" {
			ps.add(path+"id", "required")
		}
		if u.TimeZone != "" {
			if _, err := time.LoadLocation(u.TimeZone); err != nil {
				ps.add(path+"time_zone", "unknown time zone %q", u.TimeZone)
			}
		}
		attrs, err := normalizeMap(u.Attributes, 0)
		if err != nil {
			ps.add(path+"attributes", "%v", err)
		}
		for j, name := range up.Unset {
			if name == "" {
				ps.add(fmt.Sprintf("%sunset[%d]", path, j), "empty attribute name")
			}
		}
		u.Attributes = attrs
		out[i] = UserUpdate{User: u, Replace: up.Replace, Unset: up.Unset}
	}
	what := "users"
	if len(updates) == 1 {
		what = fmt.Sprintf("user %q", updates[0].User.ID)
	}
	if err := ps.err(what); err != nil {
		return err
	}
	if err := store.PutUsers(ctx, PutUsersParams{Users: out, Now: s.clock.Now()}); err != nil {
		return opErr(err, "identify %s", what)
	}
	return nil
}

// Send enqueues a job of the current version of a message to one user and returns its ID:
// the server-to-server call of a Manual message, which works for messages of any kind. params
// are available to templates as parameter. A user that was never identified is a user with
// only an ID. opts may be nil: the job is then due now, and every call enqueues a new job.
// The current version is read from the catalog of messages that Trigger reads too: a message
// saved by another Sender sharing the Store is sent in its new version here within
// Config.PollInterval, one saved by this Sender at once; likewise, a message deleted by
// another Sender may still be sent here within Config.PollInterval, one deleted by this
// Sender is not.
//
// With opts.Key, Send is idempotent: a second Send of the message to the user with the same
// key enqueues nothing and returns the ID of the first call's job, whether it was sent yet or
// not, so a caller can retry a Send whose answer it did not get.
//
// It returns an error wrapping ErrNotFound if there is no such message or it was deleted,
// one wrapping ErrInvalid if userID is empty, params are not JSON values, or the message is
// disabled, and one wrapping [ErrWaiting] if the user waits for the winner of the message's
// A/B test.
func (s *Sender) Send(ctx context.Context, messageID, userID string, params map[string]any, opts *SendOptions) (string, error) {
	if err := s.made(); err != nil {
		return "", err
	}
	return s.send(ctx, s.store, false, messageID, userID, params, opts)
}

// currentMessage returns the current version of message id for a Send: from the catalog
// unless inTx, so that a Send reads nothing from the Store but its enqueue, and otherwise
// read from store. A message the catalog does not have was saved by another Sender since it
// was read, or deleted, or never saved: it is read from store, and, since store returns the
// current version of a deleted message too, the catalog is then read again to tell which
// (once per deleted message until the catalog is next read, so that Sends of one do not
// make every Send and Trigger wait for catalog reads). As
// for Trigger, a message saved or deleted by another Sender sharing the Store takes effect
// within Config.PollInterval, and one saved or deleted by this Sender at once.
func (s *Sender) currentMessage(ctx context.Context, store Store, inTx bool, id string) (*Message, error) {
	cat, err := s.catalog.get(ctx)
	if err != nil {
		return nil, err
	}
	m, ok := cat.messages[id]
	if ok && !inTx {
		return m, nil
	}
	if _, gone := cat.gone.Load(id); gone {
		return nil, ErrNotFound
	}
	if m, err = loadMessage(ctx, store, id, 0); err != nil || ok {
		return m, err
	}
	s.catalog.invalidate()
	if cat, err = s.catalog.get(ctx); err != nil {
		return nil, err
	}
	if _, ok := cat.messages[id]; !ok {
		cat.gone.Store(id, true) // until the catalog is read again
		return nil, ErrNotFound
	}
	return m, nil
}

// SendOptions are the options of [Sender.Send].
type SendOptions struct {
	// Key makes Send idempotent: at most one job is enqueued per message, user and key.
	// Defaults to none: every call enqueues a job.
	Key string
	// At is when the job is due. Defaults to now.
	At time.Time
}

// send is Send writing to store, the Sender's Store or, inTx, a view of it bound to the
// app's transaction.
func (s *Sender) send(ctx context.Context, store Store, inTx bool, messageID, userID string, params map[string]any, opts *SendOptions) (string, error) {
	if opts == nil {
		opts = &SendOptions{}
	}
	var ps problems
	if userID == "" {
		ps.add("user_id", "required")
	}
	p, err := normalizeMap(params, 0)
	if err != nil {
		ps.add("params", "%v", err)
	}
	if len(ps) > 0 {
		return "", ps.err(fmt.Sprintf("send of %q", messageID))
	}
	m, err := s.currentMessage(ctx, store, inTx, messageID)
	if err != nil {
		return "", opErr(err, "send %q", messageID)
	}
	if m.Disabled {
		return "", invalidf("webhook: send %q: the message is disabled", messageID)
	}
	occurrence := ""
	if opts.Key != "" {
		occurrence = "key:" + opts.Key
	}
	now := s.clock.Now()
	j := newJob(m, userID, occurrence, now, p)
	if !opts.At.IsZero() {
		j.DueAt = opts.At
	}
	j.Trace = traceOf(ctx)
	jobs, err := assignVariants(ctx, store, []*Job{j}, map[string]*Message{m.ID: m})
	switch {
	case err != nil:
		return "", opErr(err, "send %q", messageID)
	case len(jobs) == 0:
		return "", opErr(ErrWaiting, "send %q to %q", messageID, userID)
	}
	res, err := store.Enqueue(ctx, EnqueueParams{Jobs: jobs})
	if err != nil {
		return "", opErr(err, "send %q", messageID)
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
	lib := newCurrentSnippets(ctx, s.store)
	cm, err := s.engine.compile(m, lib)
	if lib.err != nil {
		return nil, opErr(lib.err, "preview %q: read snippets", m.ID)
	}
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
	v := &vars{user: &u, params: p, message: cm.msg, now: now}
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
		return User{}, opErr(err, "load user %q", id)
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

// Stop stops claiming jobs and waits until those in flight are sent, their outcomes
// recorded and the hooks of every notice queued called (see [Hooks]), or until ctx ends;
// then it cancels the sends still in flight, whose jobs are put back in the queue unlogged,
// to be sent again, drops the notices still queued, and returns ctx's error. When it
// returns, no goroutine of the Sender is left but a hook that has not returned, and the
// connections its default HTTP client kept open are closed. Stop on a Sender that is not
// started returns nil.
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
	if q := s.obs.queue; q != nil {
		err = cmp.Or(err, q.wait(ctx))
	}
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
