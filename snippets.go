package webhook

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// TemplateKind is what a saved [Template] is.
type TemplateKind string

const (
	// WebhookTemplate is a reusable webhook — method, URL, content type, headers and data —
	// that messages start from ([Template.NewMessage]), as Xtremepush's saved webhook
	// templates.
	WebhookTemplate TemplateKind = "webhook"
	// Snippet is a named piece of Jinja that the templates of messages load, as Braze's
	// content blocks: {% include 'footer' %} renders it in place, {% import 'crm' as crm %}
	// and {% from 'crm' import contact %} bind its macros.
	Snippet TemplateKind = "snippet"
)

// Template is a saved template: a webhook template or a snippet, saved with
// [Sender.SaveTemplate] in the Store (a [TemplateStore]), never read from disk. Each save is
// a new version, as with messages.
//
// A message that loads a snippet records the version of it that was current when the message
// was saved (Message.Snippets), and saving a snippet saves a new version of every message
// that loads it, so each job renders with the snippets current when it was enqueued, and a
// retry or a replay sends the same bytes. A campaign sends the version of its message that was
// current when it was started, snippets included.
type Template struct {
	// Kind is what the template is. Required.
	Kind TemplateKind `json:"kind"`
	// Name identifies the template among those of its kind: letters, digits, '-', '_' and
	// '.', at most 128. Required.
	Name string `json:"name"`
	// Version is set by the Store each time the template is saved, starting at 1.
	Version int `json:"version,omitempty"`
	// Source is a Snippet's Jinja. It may load other snippets, but not itself, directly or
	// through others.
	Source string `json:"source,omitempty"`
	// Method, URL, ContentType, Headers, Data and Dialect are a WebhookTemplate's, as those
	// of a Message. Its URL may be empty, for messages to give.
	Method      string      `json:"method,omitempty"`
	URL         string      `json:"url,omitempty"`
	ContentType ContentType `json:"content_type,omitempty"`
	Headers     []Field     `json:"headers,omitempty"`
	Data        []Field     `json:"data,omitempty"`
	Dialect     string      `json:"dialect,omitempty"`
}

// TemplateRef names a version of a saved template.
type TemplateRef struct {
	Name string `json:"name"`
	// Version is the template's version; 0 is its current version in a [TemplateQuery].
	Version int `json:"version,omitempty"`
}

// NewMessage returns a message with the given ID that starts from t, a WebhookTemplate: its
// method, URL, content type, headers, data and dialect are t's, and its Template names t. The
// message is the caller's to complete and save; it does not change when t does.
func (t *Template) NewMessage(id string) *Message {
	return &Message{
		ID: id, Method: t.Method, URL: t.URL, ContentType: t.ContentType,
		Headers: slices.Clone(t.Headers), Data: slices.Clone(t.Data), Dialect: t.Dialect,
		Template: &TemplateRef{Name: t.Name, Version: t.Version},
	}
}

// TemplateStore is an optional role of a [Store]: saved templates, every version of each,
// as [MessageStore] keeps messages. A Sender needs it for [Sender.SaveTemplate] and for
// messages that load snippets; memstore, sqlitestore and pgstore implement it.
type TemplateStore interface {
	// PutTemplate saves t as a new version of the template of its Kind and Name, sets
	// t.Version to that version's number (one more than the latest, 1 for a new template) and
	// makes it the current version.
	PutTemplate(ctx context.Context, t *Template) error
	// Templates returns the templates of kind q.Kind that q selects, in Name order and then
	// Version order: with q.Refs, the template of each name at the version given (its
	// current version if 0), those it holds, each once; without, a page of up to q.Limit
	// templates at their current versions whose Names sort after q.After.
	Templates(ctx context.Context, q TemplateQuery) ([]*Template, error)
}

// TemplateQuery selects templates for [TemplateStore.Templates].
type TemplateQuery struct {
	Kind TemplateKind
	// Refs, if not empty, selects these templates; After and Limit are then ignored.
	Refs []TemplateRef
	// After and Limit select a page of the templates of Kind in Name order.
	After string
	Limit int
}

// currentSnippets is the jinja.Library of the snippets current in a Store, read as they are
// asked for, which records the versions it read: those a message saved now pins. Its
// override, if not nil, stands in for the current version of its name.
type currentSnippets struct {
	ctx      context.Context
	store    TemplateStore // nil if the Store has none: no snippet exists
	override *Template
	read     map[string]*Template
	err      error // the first error reading the Store
}

// newCurrentSnippets returns the library of the snippets current in store.
func newCurrentSnippets(ctx context.Context, store Store) *currentSnippets {
	ts, _ := store.(TemplateStore)
	return &currentSnippets{ctx: ctx, store: ts, read: map[string]*Template{}}
}

// Snippet implements jinja.Library.
func (l *currentSnippets) Snippet(name string) (string, bool) {
	if t, ok := l.read[name]; ok {
		return t.Source, true
	}
	if o := l.override; o != nil && o.Name == name {
		l.read[name] = o
		return o.Source, true
	}
	if l.store == nil || l.err != nil {
		return "", false
	}
	ts, err := l.store.Templates(l.ctx, TemplateQuery{Kind: Snippet, Refs: []TemplateRef{{Name: name}}})
	if err != nil {
		l.err = err
		return "", false
	}
	if len(ts) == 0 {
		return "", false
	}
	l.read[name] = ts[0]
	return ts[0].Source, true
}

// pins returns the versions of the snippets read, by name, or nil if none was.
func (l *currentSnippets) pins() map[string]int {
	if len(l.read) == 0 {
		return nil
	}
	out := make(map[string]int, len(l.read))
	for name, t := range l.read {
		out[name] = t.Version
	}
	return out
}

// pinnedSnippets is the jinja.Library of the versions of snippets a saved message pins.
type pinnedSnippets map[string]string

// Snippet implements jinja.Library.
func (l pinnedSnippets) Snippet(name string) (string, bool) {
	src, ok := l[name]
	return src, ok
}

// loadPinned returns the library of the snippets that m pins (Message.Snippets), read from
// store with one query, or nil if it pins none.
func loadPinned(ctx context.Context, store MessageStore, m *Message) (pinnedSnippets, error) {
	if len(m.Snippets) == 0 {
		return nil, nil
	}
	ts, err := role[TemplateStore](store, fmt.Sprintf("message %q loads snippets", m.ID))
	if err != nil {
		return nil, err
	}
	refs := make([]TemplateRef, 0, len(m.Snippets))
	for _, name := range slices.Sorted(maps.Keys(m.Snippets)) {
		refs = append(refs, TemplateRef{Name: name, Version: m.Snippets[name]})
	}
	saved, err := ts.Templates(ctx, TemplateQuery{Kind: Snippet, Refs: refs})
	if err != nil {
		return nil, fmt.Errorf("load snippets of message %q: %w", m.ID, err)
	}
	lib := pinnedSnippets{}
	for _, t := range saved {
		if t.Version == m.Snippets[t.Name] {
			lib[t.Name] = t.Source
		}
	}
	return lib, nil
}

// compileToSave compiles m as SaveMessage saves it: with the snippets current in the Store,
// whose versions it pins, and only if the Store can keep the variants' assignments.
func (s *Sender) compileToSave(ctx context.Context, m *Message, lib *currentSnippets) (*compiledMessage, error) {
	if m != nil && len(m.Variants) > 0 {
		if _, err := variantStore(s.store, m); err != nil {
			return nil, err
		}
	}
	cm, err := s.engine.compile(m, lib)
	if lib.err != nil {
		return nil, opErr(lib.err, "save message %q: read snippets", m.ID)
	}
	if err != nil {
		return nil, err
	}
	cm.msg.Snippets = lib.pins()
	return cm, nil
}

// SaveTemplate validates t and saves it as a new version in the Store, setting t.Version. A
// template the same as its current version is not saved again: it keeps its version.
//
// A WebhookTemplate is checked as a message's fields are; a Snippet's Source as a template
// that loads the snippets current in the Store. Saving a snippet also saves a new version of
// every message whose current version loads it, directly or through other snippets, so that
// the jobs enqueued from then on render with it (see [Template]); if the new version would
// make one of them invalid (a macro it imports is gone, or the snippet now loads itself
// through another), nothing is saved.
//
// It returns a [*ValidationError] listing every problem, and an error wrapping
// errors.ErrUnsupported if the Store is not a [TemplateStore].
func (s *Sender) SaveTemplate(ctx context.Context, t *Template) error {
	if err := s.made(); err != nil {
		return err
	}
	if t == nil {
		return invalidf("webhook: nil *Template")
	}
	what := fmt.Sprintf("save template %q", t.Name)
	ts, err := role[TemplateStore](s.store, what)
	if err != nil {
		return err
	}
	c := *t
	c.Version = 0
	var ps problems
	if !validID(c.Name) {
		ps.add("name", "must be 1 to %d letters, digits, '-', '_' or '.'", maxIDLen)
	}
	var dependents []*compiledMessage
	switch c.Kind {
	case WebhookTemplate:
		if c.Source != "" {
			ps.add("source", "only a snippet has a source")
		}
		m := c.NewMessage("template")
		if m.URL == "" {
			m.URL = "https://example.com" // a message gives it
		}
		if _, err := s.compileToSave(ctx, m, newCurrentSnippets(ctx, s.store)); err != nil {
			if !addProblems(&ps, err) {
				return opErr(err, "%s", what)
			}
		}
	case Snippet:
		if c.Method != "" || c.URL != "" || c.ContentType != "" || len(c.Headers) > 0 || len(c.Data) > 0 || c.Dialect != "" {
			ps.add("source", "a snippet has only a source")
		}
		lib := newCurrentSnippets(ctx, s.store)
		lib.override = &c
		for _, msg := range s.engine.compileSnippet(c.Name, c.Source, lib) {
			ps.add("source", "%s", msg)
		}
		if lib.err != nil {
			return opErr(lib.err, "%s", what)
		}
		if len(ps) > 0 {
			break // the messages that load it would say the same
		}
		if dependents, err = s.dependents(ctx, &c, &ps); err != nil {
			return opErr(err, "%s", what)
		}
	default:
		ps.add("kind", "%q is neither %q nor %q", c.Kind, WebhookTemplate, Snippet)
	}
	if err := ps.err(fmt.Sprintf("template %q", c.Name)); err != nil {
		return err
	}
	cur, err := ts.Templates(ctx, TemplateQuery{Kind: c.Kind, Refs: []TemplateRef{{Name: c.Name}}})
	if err != nil {
		return opErr(err, "%s", what)
	}
	if len(cur) > 0 {
		old := *cur[0]
		old.Version = 0
		if sameJSON(&old, &c) {
			t.Version = cur[0].Version
			return nil
		}
	}
	if err := ts.PutTemplate(ctx, &c); err != nil {
		return opErr(err, "%s", what)
	}
	t.Version = c.Version
	for _, cm := range dependents {
		cm.msg.Snippets[c.Name] = c.Version
		if err := s.saveCompiled(ctx, cm.msg, cm); err != nil {
			return opErr(err, "%s: save message %q with it", what, cm.msg.ID)
		}
	}
	return nil
}

// addProblems adds the problems of err to ps if it is a *ValidationError, and reports
// whether it was.
func addProblems(ps *problems, err error) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	*ps = append(*ps, ve.Problems...)
	return true
}

// dependents returns the current versions of the messages that load the snippet t, each
// compiled with t in place of its current version, or adds to ps the problems t makes in
// them.
func (s *Sender) dependents(ctx context.Context, t *Template, ps *problems) ([]*compiledMessage, error) {
	var out []*compiledMessage
	for after := ""; ; {
		ms, err := s.store.Messages(ctx, MessageQuery{After: after, Limit: catalogPage})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if _, ok := m.Snippets[t.Name]; !ok {
				continue
			}
			lib := newCurrentSnippets(ctx, s.store)
			lib.override = t
			cm, err := s.compileToSave(ctx, m, lib)
			switch {
			case addProblems(ps, err):
				(*ps)[len(*ps)-1].Path = fmt.Sprintf("message %q: %s", m.ID, (*ps)[len(*ps)-1].Path)
			case err != nil:
				return nil, err
			default:
				out = append(out, cm)
			}
		}
		if len(ms) < catalogPage {
			return out, nil
		}
		after = ms[len(ms)-1].ID
	}
}

// Template returns a version of a saved template (its current version if version is 0), or
// an error wrapping ErrNotFound, and one wrapping errors.ErrUnsupported if the Store is not a
// [TemplateStore].
func (s *Sender) Template(ctx context.Context, kind TemplateKind, name string, version int) (*Template, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("template %q", name)
	ts, err := role[TemplateStore](s.store, what)
	if err != nil {
		return nil, err
	}
	found, err := ts.Templates(ctx, TemplateQuery{Kind: kind, Refs: []TemplateRef{{Name: name, Version: version}}})
	if err == nil && len(found) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return nil, opErr(err, "%s", what)
	}
	return found[0], nil
}

// Templates returns a page of the saved templates of a kind, at their current versions, in
// Name order: up to limit of them whose names sort after after. Pass "" for the first page and
// the last name of a page for the next; a page shorter than limit is the last.
func (s *Sender) Templates(ctx context.Context, kind TemplateKind, after string, limit int) ([]*Template, error) {
	if err := s.made(); err != nil {
		return nil, err
	}
	ts, err := role[TemplateStore](s.store, "templates")
	if err != nil {
		return nil, err
	}
	found, err := ts.Templates(ctx, TemplateQuery{Kind: kind, After: after, Limit: limit})
	if err != nil {
		return nil, opErr(err, "templates")
	}
	return found, nil
}
