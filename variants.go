package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// ControlGroup is the Variant of the jobs and attempts of users in the control group of an
// A/B test (see Message.ControlWeight): they are sent nothing, and each of their jobs is
// logged as Skipped.
const ControlGroup = "control"

// Limits on a message's A/B test.
const (
	maxVariants      = 16
	maxVariantIDLen  = 64
	maxVariantWeight = 1_000_000
)

// Variant is one version of a message in an A/B test (Message.Variants). It sends the message
// with its URL, if it has one, and with its Headers and Data fields in place of the message's
// fields with the same keys (header names in any case), in the place of the first of them, or
// at the end if the message has none. Its fields are templates, as the message's are, and
// templates see its ID as the variable variant.
//
// Each user is assigned to a variant, to the control group or to the rest who wait for the
// winner, with a chance proportional to the weights (the variants' Weight,
// Message.ControlWeight and Message.RestWeight), by a hash of the message's ID and the user's
// ID: every Sender, in every process, picks the same. The first job to a user records the
// assignment in the Store (a [VariantStore]), and every later job of the message to the user
// keeps it, whatever the weights are then: a retry, a replay, a recurring occurrence, another
// event. So changing the weights moves only users who were not assigned yet. Users who wait
// for the winner are not recorded until [Sender.SendWinner] names it: then every user without
// an assignment is assigned the winner. A user assigned to a variant that is later removed
// from the message keeps its ID and gets the message without a variant's changes.
type Variant struct {
	// ID names the variant: letters, digits, '-', '_' and '.', at most 64, and not
	// "control". Required.
	ID string `json:"id"`
	// Weight is the variant's share of the users, relative to the other weights. It must be
	// from 1 to 1,000,000.
	Weight int `json:"weight"`
	// URL, if not empty, replaces the message's URL.
	URL string `json:"url,omitempty"`
	// Headers and Data replace the message's fields with their keys, or are added.
	Headers []Field `json:"headers,omitempty"`
	Data    []Field `json:"data,omitempty"`
}

// VariantStore is an optional role of a [Store]: it remembers which variant of a message each
// user was assigned (see [Variant]). A Sender needs it to save a message with variants;
// memstore, sqlitestore and pgstore implement it.
type VariantStore interface {
	// AssignVariants saves the Variant of each of p.Assignments whose message and user have
	// none yet, as one change where the Store can make it atomic (of two assignments of a
	// message and user in a call, the first with a Variant is saved; an empty Variant saves
	// nothing), and returns, for each assignment in order, the variant the Store then holds
	// for its message and user, or "" if it holds none.
	AssignVariants(ctx context.Context, p AssignVariantsParams) ([]string, error)
}

// AssignVariantsParams are the parameters of [VariantStore.AssignVariants].
type AssignVariantsParams struct {
	Assignments []Assignment
}

// Assignment is a user's variant of a message, for [VariantStore.AssignVariants].
type Assignment struct {
	MessageID string `json:"message_id"`
	UserID    string `json:"user_id"`
	Variant   string `json:"variant"`
}

// ErrWaiting is wrapped by the error of [Sender.Send] for a user who waits for the winner of
// the message's A/B test (see Message.RestWeight): no job is enqueued.
var ErrWaiting = errors.New("webhook: the user waits for the winner of the message's A/B test")

// errControlGroup is why a job of the control group is skipped.
var errControlGroup = errors.New("control group of the A/B test: sent nothing")

// compiledVariant is a variant's templates.
type compiledVariant struct {
	id      string
	url     *template // nil: the message's
	headers []compiledField
	data    []compiledField
}

// compileVariants checks m's A/B test and compiles its variants' templates, adding their
// problems to ps.
func (e *engine) compileVariants(m *Message, in *sources, ps *problems) []compiledVariant {
	if len(m.Variants) > maxVariants {
		ps.add("variants", "more than %d variants", maxVariants)
	}
	unique := m.contentType() == JSON && m.method() != http.MethodGet
	var out []compiledVariant
	for i, v := range m.Variants {
		path := fmt.Sprintf("variants[%d]", i)
		switch {
		case !validID(v.ID) || len(v.ID) > maxVariantIDLen:
			ps.add(path+".id", "must be 1 to %d letters, digits, '-', '_' or '.'", maxVariantIDLen)
		case v.ID == ControlGroup:
			ps.add(path+".id", "%q names the control group: give ControlWeight instead", ControlGroup)
		case slices.ContainsFunc(m.Variants[:i], func(w Variant) bool { return w.ID == v.ID }):
			ps.add(path+".id", "%q is the ID of an earlier variant", v.ID)
		}
		if v.Weight < 1 || v.Weight > maxVariantWeight {
			ps.add(path+".weight", "must be from 1 to %d, got %d", maxVariantWeight, v.Weight)
		}
		cv := compiledVariant{id: v.ID}
		if v.URL != "" {
			cv.url = e.compileURL(path+".url", v.URL, in, ps)
		}
		cv.headers = e.compileHeaders(path+".headers", v.Headers, in, ps)
		cv.data = e.compileData(path+".data", v.Data, unique, in, ps)
		out = append(out, cv)
	}
	for _, w := range []struct {
		path string
		v    int
	}{{"control_weight", m.ControlWeight}, {"rest_weight", m.RestWeight}} {
		switch {
		case w.v < 0 || w.v > maxVariantWeight:
			ps.add(w.path, "must be from 0 to %d, got %d", maxVariantWeight, w.v)
		case w.v > 0 && len(m.Variants) == 0:
			ps.add(w.path, "needs variants")
		}
	}
	if m.Winner != "" && !slices.ContainsFunc(m.Variants, func(v Variant) bool { return v.ID == m.Winner }) {
		ps.add("winner", "%q is not the ID of a variant", m.Winner)
	}
	return out
}

// applyVariants returns the message cm as each variant sends it, by ID, or nil if it has no
// variants.
func applyVariants(cm *compiledMessage, variants []compiledVariant) map[string]*compiledMessage {
	if len(variants) == 0 {
		return nil
	}
	out := make(map[string]*compiledMessage, len(variants))
	for _, cv := range variants {
		v := *cm
		if cv.url != nil {
			v.url = cv.url
		}
		v.headers = overrideFields(cm.headers, cv.headers, func(a, b string) bool {
			return http.CanonicalHeaderKey(a) == http.CanonicalHeaderKey(b)
		})
		v.data = overrideFields(cm.data, cv.data, func(a, b string) bool { return a == b })
		v.setReads()
		out[cv.id] = &v
	}
	return out
}

// overrideFields returns base with the fields of over in place of base's fields with the same
// keys (in the place of the first of them), and over's other fields at the end.
func overrideFields(base, over []compiledField, same func(a, b string) bool) []compiledField {
	out := make([]compiledField, 0, len(base)+len(over))
	placed := make([]bool, len(over))
	for _, f := range base {
		if !slices.ContainsFunc(over, func(o compiledField) bool { return same(o.key, f.key) }) {
			out = append(out, f)
			continue
		}
		for i, o := range over {
			if !placed[i] && same(o.key, f.key) {
				out, placed[i] = append(out, o), true
			}
		}
	}
	for i, o := range over {
		if !placed[i] {
			out = append(out, o)
		}
	}
	return out
}

// forVariant returns the message as the variant id sends it: cm itself for the control group,
// no variant, or a variant cm does not have.
func (cm *compiledMessage) forVariant(id string) *compiledMessage {
	if v := cm.variants[id]; v != nil {
		return v
	}
	return cm
}

// pickVariant returns what m's weights give the user: a variant's ID, ControlGroup, or "" for
// the rest, who wait for the winner; or the winner, once there is one. It is a hash of the
// message's ID and the user's, so it is the same in every process: the hash's first 64 bits,
// scaled to the sum of the weights, fall in one weight's range.
func pickVariant(m *Message, userID string) string {
	if m.Winner != "" {
		return m.Winner
	}
	total := uint64(m.ControlWeight + m.RestWeight)
	for _, v := range m.Variants {
		total += uint64(v.Weight)
	}
	h := sha256.Sum256([]byte(strconv.Itoa(len(m.ID)) + ":" + m.ID + userID))
	x, _ := bits.Mul64(binary.BigEndian.Uint64(h[:8]), total) // in [0, total)
	for _, v := range m.Variants {
		if x < uint64(v.Weight) {
			return v.ID
		}
		x -= uint64(v.Weight)
	}
	if x < uint64(m.ControlWeight) {
		return ControlGroup
	}
	return ""
}

// variantStore returns store as a VariantStore, or an error that says that m's variants need
// one (see role).
func variantStore(store Store, m *Message) (VariantStore, error) {
	return role[VariantStore](store, fmt.Sprintf("message %q has variants", m.ID))
}

// assignVariants sets the Variant of each of jobs whose message has variants, as the Store
// holds it for the job's user or, for a user it holds none for, as pickVariant says (which it
// then records), and drops the jobs of users who wait for the winner. msgs holds the messages
// of the jobs by ID; those without Variants may be left out. It is called just before the jobs are enqueued, with the Store (or the
// transaction's view) they are enqueued in, and a job keeps its variant for good, retries and
// replays included. The assignments are a Store change of their own, before the Enqueue: if
// the Enqueue fails, they stay, and the user's next job gets the same variant.
func assignVariants(ctx context.Context, store Store, jobs []*Job, msgs map[string]*Message) ([]*Job, error) {
	var (
		at  []int // the indexes in jobs of the assignments
		as  []Assignment
		vs  VariantStore
		err error
	)
	for i, j := range jobs {
		m := msgs[j.MessageID]
		if m == nil || len(m.Variants) == 0 {
			continue
		}
		if vs == nil {
			if vs, err = variantStore(store, m); err != nil {
				return nil, err
			}
		}
		at = append(at, i)
		as = append(as, Assignment{MessageID: m.ID, UserID: j.UserID, Variant: pickVariant(m, j.UserID)})
	}
	if len(as) == 0 {
		return jobs, nil
	}
	held, err := vs.AssignVariants(ctx, AssignVariantsParams{Assignments: as})
	if err == nil && len(held) != len(as) {
		err = fmt.Errorf("AssignVariants returned %d variants for %d assignments", len(held), len(as))
	}
	if err != nil {
		return nil, fmt.Errorf("assign variants: %w", err)
	}
	waiting := map[int]bool{}
	for k, i := range at {
		jobs[i].Variant = held[k]
		waiting[i] = held[k] == ""
	}
	kept := jobs[:0]
	for i, j := range jobs {
		if !waiting[i] {
			kept = append(kept, j)
		}
	}
	return kept, nil
}

// checkControl skips a job of the control group of an A/B test: its user is sent nothing,
// and the attempt is logged as Skipped, with its Variant.
func (x *executor) checkControl(_ context.Context, at *attempt) verdict {
	if at.job.Variant == ControlGroup {
		return verdict{kind: skipped, err: errControlGroup}
	}
	return pass
}

// SendWinner ends the A/B test of a message: it saves the message with the variant winner as
// its Winner, so that every user who has no variant yet is assigned it, and sends it to the
// rest of the audience, the users who waited for it (Message.RestWeight) and those who were
// not in the audience then. Users already assigned keep their variant (see [Variant]).
//
// For a campaign (a message that is not Triggered) it fans out the campaign's run again with
// the new version: users who had a job of the run keep it and get nothing more, and the
// others get the winner. A Recurring message sends it from its next occurrence. A Triggered
// message sends it from the next events on. A campaign that was never started sends it to
// everyone who has no variant when it is started.
//
// It returns an error wrapping ErrNotFound if there is no such message, and one wrapping
// ErrInvalid if winner is not one of its variants, or if its campaign is paused, cancelled,
// or still fanning out (a fan-out in progress, or a Scheduled time to come).
func (s *Sender) SendWinner(ctx context.Context, messageID, winner string) error {
	if err := s.made(); err != nil {
		return err
	}
	m, err := loadMessage(ctx, s.store, messageID, 0)
	if err != nil {
		return opErr(err, "send winner of %q", messageID)
	}
	if !slices.ContainsFunc(m.Variants, func(v Variant) bool { return v.ID == winner }) {
		return invalidf("webhook: send winner of %q: %q is not the ID of one of its variants", messageID, winner)
	}
	recurring := m.Delivery.kind() == Recurring
	if m.Delivery.kind() != Triggered {
		// Check the campaign before saving: a winner saved while a fan-out runs would be
		// undone by its checkpoint.
		c, err := loadCampaign(ctx, s.store, messageID)
		if err != nil {
			return opErr(err, "send winner of %q", messageID)
		}
		if err := winnerRerun(c, recurring, s.clock.Now()); err != nil {
			return opErr(err, "send winner of %q", messageID)
		}
	}
	w := *m
	w.Winner, w.Version = winner, 0
	if err := s.SaveMessage(ctx, &w); err != nil {
		return err
	}
	if m.Delivery.kind() == Triggered {
		return nil
	}
	_, err = changeCampaign(ctx, s.store, s.obs, messageID, func(c *Campaign) (*Campaign, error) {
		if c == nil {
			return nil, nil // StartCampaign sends the winner
		}
		if err := winnerRerun(c, recurring, s.clock.Now()); err != nil {
			return nil, err
		}
		c.MessageVersion = w.Version
		if !recurring {
			c.After, c.NextAt = "", s.clock.Now()
		}
		return c, nil
	})
	if err != nil {
		return opErr(err, "send winner of %q", messageID)
	}
	s.disp.wake()
	return nil
}

// winnerRerun returns why the campaign c (nil if never started) cannot take the winner of its
// A/B test at now, or nil.
func winnerRerun(c *Campaign, recurring bool, now time.Time) error {
	switch {
	case c == nil:
		return nil
	case c.State != CampaignRunning:
		return invalidf("its campaign is %s", c.State)
	case c.LeaseExpiresAt.After(now):
		return invalidf("its campaign is fanning out: try again when it is done")
	case !recurring && !c.NextAt.IsZero():
		return invalidf("its campaign has not finished fanning out: try again when it is done")
	}
	return nil
}
