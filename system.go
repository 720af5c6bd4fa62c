package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"
)

// SystemMessageID is the ID of the message that a Sender with a [SystemWebhook] saves in its
// Store to send it: the system webhooks are its jobs, with no user, in the job queue and the
// attempt log with the others. Do not give a message of your own this ID.
const SystemMessageID = "hookline.system"

// SystemWebhook is an endpoint of the host app's (an operations service, an alerting
// pipeline) to which a Sender forwards what it reports to [Hooks] — attempts, jobs that
// ended, campaign changes, breakers that opened or closed — as signed Standard Webhooks, like
// Iterable's system webhooks and Svix's operational webhooks.
//
// Each notice becomes a job of the message [SystemMessageID], which the Sender saves in its
// Store, enqueued in the same durable queue as every other job: it is sent with the same
// retry policy, host rate limit and breaker, signed with Secrets, with a webhook-id that is
// its job ID, and a JSON body of the notice's type, its time and its data:
//
//	{"type":"job.ended","timestamp":"2030-01-07T09:00:00Z","data":{"job_id":"job_01J…","state":"failed",…}}
//
// The data is the JSON form of the [Attempt], [JobEnd], [CampaignChange] or [BreakerChange]
// that the type names (see [NoticeType]). A system webhook never produces another: notices
// about the system webhooks' own jobs, and breaker changes that their attempts caused, go to
// the hooks only. The notices reach the queue through the hooks' queue (see Hooks.QueueSize),
// which drops them when it is full.
//
// Every attempt and every job's end is one system webhook, so they add two requests or more
// per job to the endpoint's host, which Config.HostRate limits as any other: narrow Types,
// or raise HostRate, to keep up with a busy Sender. The endpoint is subject to the
// private-address guard: an internal service needs its network in Config.AllowNetworks.
type SystemWebhook struct {
	// URL is the endpoint, an http or https URL. Required.
	URL string
	// Secrets sign the requests, as Message.Secrets does: at least one "whsec_" secret
	// (see [NewSecret]). Required.
	Secrets []string
	// Types are the types of notices forwarded. Defaults to all of them.
	Types []NoticeType
}

// validate adds the problems of w to ps.
func (w *SystemWebhook) validate(ps *problems) {
	if w == nil {
		return
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.add("SystemWebhook.URL", "must be an http or https URL")
	}
	if len(w.Secrets) == 0 {
		ps.add("SystemWebhook.Secrets", "required: system webhooks are signed")
	}
	for i, s := range w.Secrets {
		if _, err := decodeSecret(s); err != nil {
			ps.add(fmt.Sprintf("SystemWebhook.Secrets[%d]", i), "%v", err)
		}
	}
	for i, t := range w.Types {
		if !slices.Contains(noticeTypes, t) {
			ps.add(fmt.Sprintf("SystemWebhook.Types[%d]", i), "unknown notice type %q", t)
		}
	}
}

// forwarder enqueues system webhooks. Only the notice queue's goroutine calls it.
type forwarder struct {
	s     *Sender
	msg   Message             // the system message, to save
	types map[NoticeType]bool // the types forwarded; nil for all
	saved *Message            // the version saved, once it is
}

func newForwarder(s *Sender, w *SystemWebhook) *forwarder {
	f := &forwarder{s: s, msg: Message{
		ID:   SystemMessageID,
		Name: "System webhooks",
		URL:  w.URL,
		Data: []Field{
			{Key: "type", Value: "{{ parameter.type }}"},
			{Key: "timestamp", Value: "{{ parameter.timestamp }}"},
			{Key: "data", Value: "{{ parameter.data }}"},
		},
		Secrets:  slices.Clone(w.Secrets),
		Delivery: Delivery{Kind: Manual, IgnoreCaps: true, IgnoreQuietHours: true},
	}}
	if len(w.Types) > 0 {
		f.types = map[NoticeType]bool{}
		for _, t := range w.Types {
			f.types[t] = true
		}
	}
	return f
}

// forward enqueues a system webhook for each notice of batch that is to be forwarded, in one
// Store change, saving the system message first if this Sender has not yet. It logs what it
// could not enqueue.
func (f *forwarder) forward(ctx context.Context, batch []notice) {
	var params []Map
	for i := range batch {
		n := &batch[i]
		if n.system || (f.types != nil && !f.types[n.typ]) {
			continue
		}
		p, err := noticeParams(n)
		if err != nil {
			f.s.log.LogAttrs(ctx, slog.LevelError, "webhook: system webhook not enqueued",
				slog.String("notice", string(n.typ)), slog.String("error", err.Error()))
			continue
		}
		params = append(params, p)
	}
	if len(params) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, finishTimeout)
	defer cancel()
	if err := f.enqueue(ctx, params); err != nil {
		f.s.log.LogAttrs(ctx, slog.LevelError, "webhook: system webhooks not enqueued",
			slog.Int("count", len(params)), slog.String("error", err.Error()))
		return
	}
	f.s.disp.wakeForJobs()
}

// enqueue enqueues a job of the system message for each of params.
func (f *forwarder) enqueue(ctx context.Context, params []Map) error {
	if f.saved == nil {
		m := f.msg
		m.Data, m.Secrets = slices.Clone(m.Data), slices.Clone(m.Secrets)
		if err := f.s.SaveMessage(ctx, &m); err != nil {
			return err
		}
		f.saved = &m
	}
	now := f.s.clock.Now()
	jobs := make([]*Job, len(params))
	for i, p := range params {
		jobs[i] = newJob(f.saved, "", "", now, p)
	}
	_, err := f.s.store.Enqueue(ctx, EnqueueParams{Jobs: jobs})
	return err
}

// noticeParams returns the parameters of the system webhook of n: its type, time and data,
// as the JSON of the payload has them.
func noticeParams(n *notice) (Map, error) {
	b, err := json.Marshal(n.data)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var data map[string]any
	if err := d.Decode(&data); err != nil {
		return nil, err
	}
	return normalizeMap(map[string]any{
		"type": string(n.typ), "timestamp": n.time.UTC().Format(time.RFC3339Nano), "data": data,
	}, 0)
}
