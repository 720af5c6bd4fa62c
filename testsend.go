package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// maxTestUsers is the most users one test send goes to.
const maxTestUsers = 100

// errWaiting is why a test send to a user who waits for the winner sends nothing.
var errWaiting = errors.New("waits for the winner of the A/B test: sent nothing")

// TestSendOptions are the options of [Sender.TestSend].
type TestSendOptions struct {
	// UserID, if not empty, sends to this user only, a test user or not. Defaults to every
	// test user (User.Test), at most 100, found by reading the whole user base.
	UserID string
	// Params are what templates see as parameter (and, for a Triggered message, as the
	// params of its event). Defaults to none.
	Params map[string]any
	// Variant sends this variant of the message (see Message.Variants), or nothing with
	// ControlGroup. Defaults to the variant each user has, or would be assigned now (which
	// is not recorded).
	Variant string
}

// TestResult is what a test send did for one user.
type TestResult struct {
	// Request is the exact request sent, credentials and signature included: call
	// [Request.Redacted] before showing it. It is nil if nothing was sent.
	Request *Request
	// Attempt is the attempt as the attempt log records it, with Test set: its Outcome
	// (Succeeded, Failed, Blocked, or Skipped for a user of the control group or who waits
	// for the winner), the response's status, headers and body, and the error.
	Attempt Attempt
}

// TestSend sends the current version of a message now, to its test users (User.Test) or to
// the one user opts names, with each user's real profile, and returns what was sent and
// answered, user by user. It is for checking a message before it goes to its audience, as
// engagement platforms' "send a test" does: the message may be disabled, and its audience,
// caps, quiet hours, rate limits and the host breaker do not apply. Each request goes through
// the job queue's path otherwise (rendering, signing, the private-address guard, the
// profile update and Config.OnResponse) but is made once, without retries, in the caller's
// goroutine, whether or not the Sender is started.
//
// Each attempt is recorded in the attempt log, with Test set, as the attempt of a job that
// the queue does not hold (its JobID is the webhook-id the receiver saw): it counts toward no
// cap, and changes no campaign. The attempts are recorded together, in one Store change,
// once every request is made, with the profile updates their responses made; cancelling ctx
// stops before the next request and records those made.
//
// It returns an error wrapping ErrNotFound if there is no such message or, without
// opts.UserID, no test user; one wrapping ErrInvalid if opts.Params are not JSON values or
// opts.Variant is not one of the message's; and the Store's error if the attempts could not
// be recorded, with the results all the same.
func (s *Sender) TestSend(ctx context.Context, messageID string, opts *TestSendOptions) ([]TestResult, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &TestSendOptions{}
	}
	what := fmt.Sprintf("test send of %q", messageID)
	params, err := normalizeMap(opts.Params, 0)
	if err != nil {
		return nil, invalidf("webhook: %s: params: %v", what, err)
	}
	m, err := loadMessage(ctx, s.store, messageID, 0)
	if err != nil {
		return nil, opErr(err, "%s", what)
	}
	if v := opts.Variant; v != "" && v != ControlGroup && !slices.ContainsFunc(m.Variants, func(x Variant) bool { return x.ID == v }) {
		return nil, invalidf("webhook: %s: %q is not the ID of one of its variants", what, v)
	}
	cm, err := s.messages.get(ctx, m.ID, m.Version)
	if err != nil {
		return nil, opErr(err, "%s", what)
	}
	users, err := s.testUsers(ctx, opts.UserID)
	if err != nil {
		return nil, opErr(err, "%s", what)
	}
	variants, err := s.testVariants(ctx, m, users, opts.Variant)
	if err != nil {
		return nil, opErr(err, "%s", what)
	}
	var (
		results = make([]TestResult, 0, len(users))
		items   = make([]Finished, 0, len(users))
	)
	for i := range users {
		if ctx.Err() != nil {
			break
		}
		req, f := s.exec.testSend(ctx, cm, &users[i], params, variants[i])
		if f.Attempt == nil {
			break // cut short by ctx: not made
		}
		results = append(results, TestResult{Request: req, Attempt: *f.Attempt})
		items = append(items, f)
	}
	if len(items) > 0 {
		errs, all := s.store.Finish(context.WithoutCancel(ctx), FinishParams{Jobs: items})
		err := all
		for i, e := range errs {
			// The hooks see the attempts, with Test set. A test send has no job: the Store
			// answers ErrNotFound for it.
			s.obs.finished(ctx, &items[i], e, all)
			if !errors.Is(e, ErrNotFound) {
				err = cmp.Or(err, e)
			}
		}
		if err != nil {
			return results, opErr(err, "%s: record attempts", what)
		}
	}
	return results, ctx.Err()
}

// testUsers returns the user id, or every test user if id is empty.
func (s *Sender) testUsers(ctx context.Context, id string) ([]User, error) {
	if id != "" {
		u, err := loadUser(ctx, s.store, id)
		return []User{u}, err
	}
	var out []User
	for after := ""; len(out) < maxTestUsers; {
		page, err := s.store.Users(ctx, UserQuery{After: after, Limit: fanOutPageSize})
		if err != nil {
			return nil, err
		}
		for _, u := range page {
			if u.Test && len(out) < maxTestUsers {
				out = append(out, u)
			}
		}
		if len(page) < fanOutPageSize {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no test users (User.Test): %w", ErrNotFound)
	}
	return out, nil
}

// testVariants returns the variant each user gets in a test send of m: variant if not empty,
// else the one the user has, or else would be assigned now; none for a message without
// variants. Nothing is recorded.
func (s *Sender) testVariants(ctx context.Context, m *Message, users []User, variant string) ([]string, error) {
	out := make([]string, len(users))
	if len(m.Variants) == 0 {
		return out, nil
	}
	if variant != "" {
		for i := range out {
			out[i] = variant
		}
		return out, nil
	}
	vs, err := variantStore(s.store, m)
	if err != nil {
		return nil, err
	}
	p := AssignVariantsParams{Assignments: make([]Assignment, len(users))}
	for i, u := range users {
		p.Assignments[i] = Assignment{MessageID: m.ID, UserID: u.ID} // no Variant: only reads
	}
	held, err := vs.AssignVariants(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("read variants: %w", err)
	}
	for i, u := range users {
		out[i] = cmp.Or(held[i], pickVariant(m, u.ID))
	}
	return out, nil
}

// testSend makes the attempt of a test send of cm to u: it renders, signs and sends the
// request once, outside the queue and its checks but the control group's, and returns the
// request sent (nil if none) and the Store write that records the attempt, whose Attempt is
// nil if ctx ended before the request was made.
func (x *executor) testSend(ctx context.Context, cm *compiledMessage, u *User, params Map, variant string) (*Request, Finished) {
	now := x.clock.Now()
	j := &Job{
		ID: newID("test", now), MessageID: cm.msg.ID, MessageVersion: cm.msg.Version, UserID: u.ID,
		Params: params, Variant: variant, State: JobRunning, CreatedAt: now, DueAt: now,
	}
	if d := &cm.msg.Delivery; d.kind() == Triggered {
		j.Event = &Event{UserID: u.ID, Name: d.Event, Time: now}
	}
	at := x.newAttempt(j)
	at.msg, at.user, at.rec.Test = cm, u, true
	var req *Request
	v := x.checkControl(ctx, at)
	switch {
	case !v.passed():
	case len(cm.msg.Variants) > 0 && variant == "":
		v = verdict{kind: skipped, err: errWaiting}
	default:
		if v = x.render(ctx, at); !v.passed() {
			break
		}
		var err error
		if req, err = x.signed(at); err != nil {
			v = verdict{kind: failed, err: err}
			break
		}
		v = x.send(ctx, at, req)
	}
	switch v.kind {
	case putBack:
		return nil, Finished{} // ctx ended
	case retrying:
		v = verdict{kind: failed, err: v.err} // a test send is one attempt
	}
	return req, x.finished(ctx, at, v)
}
