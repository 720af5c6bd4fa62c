package main

// This file is all the benchmark knows of the library's API, in small functions (open a
// store, enqueue one, enqueue a burst, start, stop), so that it is quick to adapt when the
// API changes.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/store/sqlitestore"
)

// How the library's deliveries are enqueued.
const (
	bySend     = "send"     // Sender.Send, one delivery per call
	byTrigger  = "trigger"  // Sender.Trigger of an event that a Triggered message listens to
	byCampaign = "campaign" // Sender.StartCampaign of an Immediate message to n identified users
)

// The messages the benchmark saves, and the event that triggers one.
const (
	sentID      = "bench-sent"
	triggeredID = "bench-triggered"
	eventName   = "bench_event"
)

// loopback is all the Sender may reach: the receiver.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// hookline is the library's Sender on one of its stores.
type hookline struct {
	sender  *webhook.Sender
	how     string // bySend, byTrigger or byCampaign
	e       *env
	cleanup func(context.Context) error
}

// newHookline returns a system of the library on a fresh store of kind "memstore",
// "sqlitestore" or "pgstore", enqueuing how.
func newHookline(ctx context.Context, e *env, kind, how string) (system, error) {
	st, cleanup, err := openStore(ctx, e, kind)
	if err != nil {
		return nil, err
	}
	h, err := setUp(ctx, e, st, how)
	if err != nil {
		return nil, errors.Join(err, cleanup(ctx))
	}
	h.cleanup = cleanup
	return h, nil
}

// openStore opens and migrates a fresh store, and returns it with the function that
// removes it.
func openStore(ctx context.Context, e *env, kind string) (webhook.Store, func(context.Context) error, error) {
	switch kind {
	case "memstore":
		return memstore.New(), func(context.Context) error { return nil }, nil
	case "sqlitestore":
		db, cleanup, err := e.sqlite("hookline", 8)
		if err != nil {
			return nil, nil, err
		}
		st := sqlitestore.New(db)
		if err := st.Migrate(ctx); err != nil {
			return nil, nil, errors.Join(err, cleanup())
		}
		return st, func(context.Context) error { return cleanup() }, nil
	case "pgstore":
		pool, _, cleanup, err := e.pg.freshPool(ctx, "hookline")
		if err != nil {
			return nil, nil, err
		}
		st := pgstore.New(pool)
		if err := st.Migrate(ctx); err != nil {
			return nil, nil, errors.Join(err, cleanup(ctx))
		}
		return st, cleanup, nil
	}
	return nil, nil, fmt.Errorf("unknown store %q", kind)
}

// setUp makes a Sender on st with the benchmark's message saved and, for a campaign, its
// e.n users identified.
func setUp(ctx context.Context, e *env, st webhook.Store, how string) (*hookline, error) {
	s, err := webhook.NewSender(st, &webhook.Config{
		Workers:          e.workers,
		AllowNetworks:    loopback,
		HostRate:         -1,
		BreakerThreshold: -1,
		Logger:           e.log,
	})
	if err != nil {
		return nil, err
	}
	m := &webhook.Message{ID: sentID, URL: e.url, Delivery: webhook.Delivery{Kind: webhook.Immediate}}
	if how == byTrigger {
		m = &webhook.Message{ID: triggeredID, URL: e.url, Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: eventName}}
	}
	m.Data = []webhook.Field{{Key: "enqueued_us", Value: "{{ parameter.enqueued_us | default(0) }}"}}
	if err := s.SaveMessage(ctx, m); err != nil {
		return nil, err
	}
	if how == byCampaign {
		const batch = 1000
		for start := 0; start < e.n; start += batch {
			updates := make([]webhook.UserUpdate, 0, batch)
			for i := start; i < min(start+batch, e.n); i++ {
				updates = append(updates, webhook.UserUpdate{User: webhook.User{ID: userID(i)}})
			}
			if err := s.UpdateUsers(ctx, updates); err != nil {
				return nil, fmt.Errorf("identify users: %w", err)
			}
		}
	}
	return &hookline{sender: s, how: how, e: e}, nil
}

// userID names the user of delivery i.
func userID(i int) string { return fmt.Sprintf("user-%07d", i) }

// enqueueOne enqueues delivery i, enqueued at us, with Send or Trigger.
func (h *hookline) enqueueOne(ctx context.Context, i int, us int64) error {
	params := map[string]any{"enqueued_us": us}
	if h.how == byTrigger {
		return h.sender.Trigger(ctx, webhook.Event{UserID: userID(i), Name: eventName, Params: params})
	}
	_, err := h.sender.Send(ctx, sentID, userID(i), params, nil)
	return err
}

// enqueueBurst starts the campaign, which the Sender fans out once started, or makes n Send
// calls from e.producers goroutines.
func (h *hookline) enqueueBurst(ctx context.Context, n int) error {
	if h.how == byCampaign {
		return h.sender.StartCampaign(ctx, sentID)
	}
	us := nowUS()
	return concurrently(ctx, h.e.producers, n, func(i int) error { return h.enqueueOne(ctx, i, us) })
}

func (h *hookline) start(ctx context.Context) error { return h.sender.Start(ctx) }

func (h *hookline) stop(ctx context.Context) error { return h.sender.Stop(ctx) }

func (h *hookline) close(ctx context.Context) error { return h.cleanup(ctx) }
