package webhook

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hookline/webhook/internal/jinja"
)

// ContentType is how a message's Data is encoded in the request body.
type ContentType string

const (
	// JSON encodes Data as a JSON object whose keys keep the order of the fields. It is the
	// default. A Data value that is exactly one expression, such as
	// "{{ parameter['items'] }}", keeps its JSON type (number, boolean, list, object); any
	// other value is a string.
	JSON ContentType = "application/json"
	// Form encodes Data as application/x-www-form-urlencoded, in field order.
	Form ContentType = "application/x-www-form-urlencoded"
)

// Field is one key and its value in a message's Headers or Data. The Value is a Jinja
// template; the Key is literal.
type Field struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Message is a webhook: where to send it, what to send, to whom and when.
//
// URL, header values and Data values are Jinja templates (rendered with gonja). They see these
// variables:
//
//   - user: the user's fields id, email, timezone, locale, country, region, city, test,
//     created_at and last_active (fields the user does not have are missing);
//   - userAttribute: the user's custom attributes;
//   - parameter: the parameters of the triggering event, or those given to [Sender.Send];
//   - event: the triggering event's id, name, time and params (missing for other jobs);
//   - message: the message's id, name and version;
//   - variant: the ID of the job's variant (see Variants; missing without variants);
//   - now: the time of rendering, as an RFC 3339 string in UTC.
//
// A variable that is missing makes the job fail for good unless the template gives a
// fallback, as in {{ userAttribute['first_name'] | default('there') }}; Config.MissingAsEmpty
// renders missing values as empty instead (in a JSON body, a Data value that is only the
// missing variable is null). Header and Data templates may load the snippets saved with
// [Sender.SaveTemplate] ({% include 'footer' %}, {% from 'crm' import contact %}); templates
// cannot extend other templates.
type Message struct {
	// ID identifies the message: letters, digits, '-', '_' and '.', at most 128. Required.
	ID string `json:"id"`
	// Name is a human-readable name for the message.
	Name string `json:"name,omitempty"`
	// Method is the HTTP method: POST, GET, PUT, PATCH or DELETE. With GET the Data go in the
	// query string. Defaults to POST.
	Method string `json:"method,omitempty"`
	// URL is the endpoint, an http or https URL template. Values substituted into it are
	// escaped for their position (a path segment or a query value), so a value can never add
	// a path segment or a query parameter; literal text is sent as written. A URL of the form
	// https://user:password@host sends the credentials as basic auth, not in the URL.
	// URL templates hold expressions only, not statements ({% ... %}); use an inline if:
	// {{ 'a' if cond else 'b' }}.
	URL string `json:"url"`
	// ContentType encodes the Data. Defaults to JSON.
	ContentType ContentType `json:"content_type,omitempty"`
	// Headers are extra request headers, in order. Their values are templates and may not
	// contain line breaks. Host, Content-Length, the hop-by-hop headers (Connection,
	// Keep-Alive, Upgrade, TE, Trailer, Transfer-Encoding, Proxy-Connection) and the
	// webhook-* headers the Sender sets cannot be given.
	Headers []Field `json:"headers,omitempty"`
	// Data are the key/value pairs sent in the body (or the query string for GET), in order.
	Data []Field `json:"data,omitempty"`
	// Secrets sign every request the Standard Webhooks way (see [Verify]): each is
	// "whsec_" followed by the standard base64 of 24 to 64 random bytes ([NewSecret] makes
	// one), and each adds a signature to the webhook-signature header, so a secret can be
	// rotated by adding the new one, waiting for receivers to switch, then removing the old
	// one. At most 10. Secrets never appear in logs or the attempt log. Defaults to none:
	// requests are not signed.
	Secrets []string `json:"secrets,omitempty"`
	// MaxPerMinute throttles the message: at most this many of its requests are sent per
	// minute, across all users, spread evenly (a burst of one second's share). Jobs
	// held back wait in the Store, due when they may go, and are not counted as attempts.
	// Defaults to 0: no limit other than Config.HostRate.
	MaxPerMinute int `json:"max_per_minute,omitempty"`
	// Audience selects the users the message goes to. The zero Audience means everyone.
	Audience Audience `json:"audience,omitzero"`
	// CheckAudienceOnce checks the Audience only when a job is enqueued. By default it
	// is checked again just before a job's first attempt, and a user who left the
	// audience in between is skipped: the attempt is logged with Outcome Skipped.
	CheckAudienceOnce bool `json:"check_audience_once,omitempty"`
	// Delivery says when the message is sent. The zero Job is Manual.
	Delivery Delivery `json:"delivery,omitzero"`
	// Variants are the versions of an A/B test, at most 16: each job goes to one of them, or
	// to the control group, as ControlWeight, RestWeight and Winner say (see [Variant]).
	// Defaults to none: every job sends the message as it is.
	Variants []Variant `json:"variants,omitempty"`
	// ControlWeight is the weight of the control group of an A/B test: its users are sent
	// nothing, and each of their jobs is logged as Skipped with the Variant ControlGroup.
	// Defaults to 0: no control group.
	ControlWeight int `json:"control_weight,omitempty"`
	// RestWeight is the weight of the users of an A/B test who wait for its winner: they are
	// sent nothing, and no job, until [Sender.SendWinner] names it. Defaults to 0: none wait.
	RestWeight int `json:"rest_weight,omitempty"`
	// Winner is the ID of the variant that [Sender.SendWinner] chose: every user who has no
	// variant yet gets it. Defaults to none.
	Winner string `json:"winner,omitempty"`
	// Dialect is the template language of another platform that the URL, Headers and Data
	// (and those of Variants) are written in, translated into this library's when the
	// message is compiled: "leanplum" or "iterable" (see the table of what each covers in
	// docs/templates.md). Problems are reported at the positions of the text as written. Defaults to
	// none: the library's own variables.
	Dialect string `json:"dialect,omitempty"`
	// UpdateProfile, if set, merges the JSON object of each 2xx response into the user's
	// attributes, as Iterable's "Update User Profile" webhook does (see [ProfileUpdate]).
	// Defaults to nil: responses change nothing.
	UpdateProfile *ProfileUpdate `json:"update_profile,omitempty"`
	// Template is the saved webhook template the message was started from
	// ([Template.NewMessage]), for reference: it changes nothing. Defaults to none.
	Template *TemplateRef `json:"template,omitempty"`
	// Snippets are the versions of the snippets that the message's templates load, directly
	// or through other snippets, by name: those current when it was saved. [Sender.SaveMessage]
	// sets them, and [Sender.SaveTemplate] saves a new version of each message that loads a
	// snippet it saves, so that each job renders with the snippets current when it was
	// enqueued.
	Snippets map[string]int `json:"snippets,omitempty"`
	// Disabled stops the message from enqueuing anything new: events no longer trigger it,
	// and [Sender.Send] and [Sender.StartCampaign] refuse it. Jobs already enqueued are sent
	// as usual; [Sender.CancelCampaign] cancels them. Saving the message again without it
	// enables it. Defaults to false.
	Disabled bool `json:"disabled,omitempty"`
	// Version is set by the Store each time the message is saved, starting at 1. Jobs are
	// rendered with the version that was current when they were enqueued.
	Version int `json:"version,omitempty"`
}

// Limits on messages, so a message is bounded in what it can make a Sender do.
const (
	maxIDLen       = 128
	maxURLLen      = 8 << 10
	maxTemplateLen = 64 << 10
	maxFields      = 1000
)

// methods are the HTTP methods a message may use.
var methods = []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete}

// reservedHeaders cannot be set by a message: the transport or the Sender owns them.
var reservedHeaders = []string{
	"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Te",
	"Trailer", "Proxy-Connection", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
}

// Validate checks m and returns a [*ValidationError] listing every problem with the path of
// its field, including template syntax errors, unknown filters and tests, and statements that
// would extend other templates. It does not read the Store: the snippets that m loads are
// checked by [Sender.SaveMessage]. It returns nil if m is valid, and an error wrapping
// [ErrInvalid] if m is nil.
func (m *Message) Validate() error {
	_, err := newEngine(false).compile(m, nil)
	return err
}

// compiledMessage is a validated message with its templates compiled.
type compiledMessage struct {
	msg     *Message
	url     *template
	headers []compiledField
	data    []compiledField
	// reads is what the templates may read of their variables; readsUser is set when that
	// is more of the user than its ID, which the job has: the user is then loaded from the
	// Store to render them.
	reads     *jinja.Reads
	readsUser bool
	// where and audience are the compiled Delivery.Where and Audience (nil if empty).
	where    []*compiledCondition
	audience *audienceNode
	// variants are the message as each of its Variants sends it, by ID.
	variants map[string]*compiledMessage
}

type compiledField struct {
	key   string
	value *template
}

// compile validates m and compiles its templates, loading the snippets they include from lib
// (with a nil lib, checking the statements that load them only): every check of a Message
// starts here. The checks of its Delivery are in schedule.go and trigger.go, those of its
// Audience in audience_compile.go, those of its templates in the template sandbox
// (internal/jinja, through template.go) after dialect.go translates them, those of its
// Variants in variants.go, those of UpdateProfile in profile.go, and those of its secrets in
// sign.go. It returns a *ValidationError listing every problem, or an error wrapping
// ErrInvalid if m is nil.
func (e *engine) compile(m *Message, lib jinja.Library) (*compiledMessage, error) {
	if m == nil {
		return nil, invalidf("webhook: nil *Message")
	}
	var ps problems
	if !validID(m.ID) {
		ps.add("id", "must be 1 to %d letters, digits, '-', '_' or '.'", maxIDLen)
	}
	method := m.method()
	if !slices.Contains(methods, method) {
		ps.add("method", "%q is not one of %s", m.Method, strings.Join(methods, ", "))
	}
	ct := m.contentType()
	if ct != JSON && ct != Form {
		ps.add("content_type", "%q is neither %s nor %s", m.ContentType, JSON, Form)
	}
	in := &sources{lib: lib}
	in.dialect, in.dialectErr = dialectNamed(m.Dialect)
	if in.dialectErr != "" {
		ps.add("dialect", "%s", in.dialectErr)
	}
	cm := &compiledMessage{url: e.compileURL("url", m.URL, in, &ps)}
	cm.headers = e.compileHeaders("headers", m.Headers, in, &ps)
	cm.data = e.compileData("data", m.Data, ct == JSON && method != http.MethodGet, in, &ps)
	if m.MaxPerMinute < 0 {
		ps.add("max_per_minute", "must not be negative")
	}
	validateSecrets(m.Secrets, &ps)
	m.Delivery.validate(&ps)
	cm.where, cm.audience = compileTargeting(m, &ps)
	variants := e.compileVariants(m, in, &ps)
	m.UpdateProfile.validate(&ps)
	if err := ps.err(fmt.Sprintf("message %q", m.ID)); err != nil {
		return nil, err
	}
	cm.setReads()
	cm.variants = applyVariants(cm, variants)
	msg := *m
	msg.Method = method
	msg.ContentType = ct
	msg.Headers = slices.Clone(m.Headers)
	msg.Data = slices.Clone(m.Data)
	msg.Secrets = slices.Clone(m.Secrets)
	cm.msg = &msg
	for _, v := range cm.variants {
		v.msg = &msg
	}
	return cm, nil
}

// compileHeaders compiles the headers at path (a message's, or a variant's), adding their
// problems to ps.
func (e *engine) compileHeaders(path string, headers []Field, in *sources, ps *problems) []compiledField {
	if len(headers) > maxFields {
		ps.add(path, "more than %d headers", maxFields)
	}
	var out []compiledField
	for i, h := range headers {
		path := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !validHeaderName(h.Key):
			ps.add(path+".key", "%q is not a valid header name", h.Key)
		case slices.Contains(reservedHeaders, http.CanonicalHeaderKey(h.Key)):
			ps.add(path+".key", "%s is set by the Sender and cannot be given", http.CanonicalHeaderKey(h.Key))
		}
		if hasLineBreak(h.Value) {
			ps.add(path+".value", "contains a line break")
			continue
		}
		out = append(out, compiledField{h.Key, e.compileTemplate(path+".value", h.Value, in, ps)})
	}
	return out
}

// compileData compiles the Data fields at path (a message's, or a variant's), adding their
// problems to ps. With unique, a key may not repeat: the fields are a JSON object.
func (e *engine) compileData(path string, data []Field, unique bool, in *sources, ps *problems) []compiledField {
	if len(data) > maxFields {
		ps.add(path, "more than %d fields", maxFields)
	}
	var out []compiledField
	first := map[string]int{}
	for i, d := range data {
		at := fmt.Sprintf("%s[%d]", path, i)
		if d.Key == "" {
			ps.add(at+".key", "required")
		} else if j, dup := first[d.Key]; dup && unique {
			ps.add(at+".key", "%q is already the key of %s[%d]; a JSON object cannot repeat a key", d.Key, path, j)
		} else if !dup {
			first[d.Key] = i
		}
		out = append(out, compiledField{d.Key, e.compileTemplate(at+".value", d.Value, in, ps)})
	}
	return out
}

// setReads sets what cm's URL, headers and data may read, and whether that is more of the
// user than its ID.
func (cm *compiledMessage) setReads() {
	r := cm.url.t.Reads()
	for _, f := range slices.Concat(cm.headers, cm.data) {
		r = r.Union(f.value.t.Reads())
	}
	cm.reads, cm.readsUser = r, readsUser(r)
}

// readsUser reports whether templates that read r may read more of the user than user.id:
// userAttribute, or user otherwise than as user.id (any other field, or user as a whole). The
// dialects read the user only through these names too, as dialect.go translates their tags
// into them.
func readsUser(r *jinja.Reads) bool {
	keys, only := r.Keys("user")
	return r.Read("userAttribute") || !only || slices.ContainsFunc(keys, func(k string) bool { return k != "id" })
}

// method returns m's HTTP method, upper-cased, with the default applied.
func (m *Message) method() string {
	if m.Method == "" {
		return http.MethodPost
	}
	return strings.ToUpper(m.Method)
}

// contentType returns m's content type with the default applied.
func (m *Message) contentType() ContentType {
	if m.ContentType == "" {
		return JSON
	}
	return m.ContentType
}

func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// hasLineBreak reports whether s holds a character that could end a header line.
func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }
