package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hookline/webhook"
)

// messageVersions is how many versions of a message its page shows, newest first.
const messageVersions = 10

// messageData is the message page's.
type messageData struct {
	ID string
	// Versions are the message's latest versions, newest first, as shown: credentials
	// redacted, secrets left out.
	Versions []messageVersion
	// Audience is how many users the current version's audience matches, or -1 if it could
	// not be counted (AudienceErr says why).
	Audience    int
	AudienceErr string
	// Campaign is the message's campaign, or nil if it was never started.
	Campaign *webhook.Campaign
	// CampaignState is the campaign's state as shown: "finished" for a running campaign with
	// no fan-out left, "running" for a Triggered message whose campaign was never changed,
	// "not started" for another that was never started.
	CampaignState string
	// CanPause, CanResume and CanCancel say which of the campaign's buttons apply.
	CanPause, CanResume, CanCancel bool
	Counts                         webhook.MessageCounts
}

// messageVersion is a version of a message as its page shows it.
type messageVersion struct {
	Version     int
	Name        string
	Method      string
	URL         string
	ContentType webhook.ContentType
	Headers     []webhook.Field
	Data        []webhook.Field
	Delivery    webhook.DeliveryKind
	Event       string
	// Signed is how many signing secrets the version has; they are never shown.
	Signed   int
	Variants int
	Disabled bool
}

// message fills in the page of the message named by the path: its versions, audience size,
// campaign and jobs by state.
func (h *handler) message(r *http.Request, v *view) (string, error) {
	ctx, id := r.Context(), r.PathValue("id")
	m, err := h.s.Message(ctx, id, 0)
	if err != nil {
		return "", err
	}
	d := &messageData{ID: id, Audience: -1, Counts: webhook.MessageCounts{MessageID: id}}
	d.Versions = append(d.Versions, showVersion(m))
	for n := m.Version - 1; n >= 1 && len(d.Versions) < messageVersions; n-- {
		old, err := h.s.Message(ctx, id, n)
		if err != nil {
			return "", err
		}
		d.Versions = append(d.Versions, showVersion(old))
	}
	if n, err := h.s.AudienceSize(ctx, m.Audience); err != nil {
		d.AudienceErr = err.Error()
	} else {
		d.Audience = n
	}
	triggered := m.Delivery.Kind == webhook.Triggered
	switch c, err := h.s.Campaign(ctx, id); {
	case errors.Is(err, webhook.ErrNotFound) && triggered: // running from the start
		d.CampaignState, d.CanPause, d.CanCancel = string(webhook.CampaignRunning), true, true
	case errors.Is(err, webhook.ErrNotFound):
		d.CampaignState = "not started"
	case err != nil:
		return "", err
	default:
		d.Campaign, d.CampaignState = c, string(c.State)
		if c.State == webhook.CampaignRunning && c.NextAt.IsZero() && !triggered {
			d.CampaignState = "finished"
		}
		d.CanPause = c.State == webhook.CampaignRunning
		d.CanResume = c.State == webhook.CampaignPaused
		d.CanCancel = c.State != webhook.CampaignCancelled
	}
	counts, err := h.s.JobCounts(ctx, id)
	if err != nil {
		return "", err
	}
	if len(counts) == 1 {
		d.Counts = counts[0]
	}
	v.Title, v.Data = "Message "+id, d
	return "message", nil
}

// showVersion returns m as its page shows it: the URL's password and the values of headers,
// data and query parameters whose names say they hold credentials are redacted, as the
// attempt log redacts them, and the signing secrets are only counted.
func showVersion(m *webhook.Message) messageVersion {
	kind := m.Delivery.Kind
	if kind == "" {
		kind = webhook.Manual
	}
	method := m.Method
	if method == "" {
		method = http.MethodPost
	}
	ct := m.ContentType
	if ct == "" {
		ct = webhook.JSON
	}
	return messageVersion{
		Version: m.Version, Name: m.Name, Method: method, URL: redactTemplateURL(m.URL),
		ContentType: ct, Headers: redactFields(m.Headers), Data: redactFields(m.Data),
		Delivery: kind, Event: m.Delivery.Event, Signed: len(m.Secrets), Variants: len(m.Variants),
		Disabled: m.Disabled,
	}
}

// redacted replaces a secret on the pages, as in the attempt log.
const redacted = "REDACTED"

// sensitive reports whether a header, data field or query parameter called name holds a
// credential by the rules of [webhook.Request.Redacted].
func sensitive(name string) bool {
	r := (&webhook.Request{Header: http.Header{name: {""}}}).Redacted()
	return r.Header[name][0] == redacted
}

// redactFields returns a copy of fs whose values are redacted where the key says they hold a
// credential.
func redactFields(fs []webhook.Field) []webhook.Field {
	out := make([]webhook.Field, len(fs))
	for i, f := range fs {
		if sensitive(f.Key) {
			f.Value = redacted
		}
		out[i] = f
	}
	return out
}

// redactTemplateURL returns a message's URL template with the password of its user info and
// the values of query parameters with sensitive names redacted. It works on the text, as a
// template is not a URL until it is rendered, and leaves the rest as written.
func redactTemplateURL(s string) string {
	rest, query, hasQuery := strings.Cut(s, "?")
	if scheme, after, ok := strings.Cut(rest, "://"); ok {
		authority, path, _ := strings.Cut(after, "/")
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if user, _, ok := strings.Cut(authority[:at], ":"); ok {
				authority = user + ":" + redacted + authority[at:]
			}
		}
		rest = scheme + "://" + authority
		if strings.Contains(after, "/") {
			rest += "/" + path
		}
	}
	if !hasQuery {
		return rest
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok && sensitive(k) {
			parts[i] = k + "=" + redacted
		}
	}
	return rest + "?" + strings.Join(parts, "&")
}

// campaignActions are the POSTs of a message's page: the campaign change each makes and the
// notice shown after it.
var campaignActions = map[string]struct {
	do   func(h *handler, r *http.Request, id string) error
	done string
}{
	"pause":  {func(h *handler, r *http.Request, id string) error { return h.s.PauseCampaign(r.Context(), id) }, "paused"},
	"resume": {func(h *handler, r *http.Request, id string) error { return h.s.ResumeCampaign(r.Context(), id) }, "resumed"},
	"cancel": {func(h *handler, r *http.Request, id string) error { return h.s.CancelCampaign(r.Context(), id) }, "stopped"},
}

// campaignAction pauses, resumes or cancels the campaign of the message named by the path.
func (h *handler) campaignAction(r *http.Request) (string, error) {
	id := r.PathValue("id")
	a, ok := campaignActions[r.PathValue("action")]
	if !ok {
		return "", fmt.Errorf("console: no campaign action %q: %w", r.PathValue("action"), webhook.ErrNotFound)
	}
	if err := a.do(h, r, id); err != nil {
		return "", err
	}
	return pathTo("", "messages", id) + "?done=" + a.done, nil
}
