// Package jinja is the template sandbox: it compiles and renders Jinja templates with gonja,
// in a private environment, within limits, and as Jinja2 renders them where gonja differs.
//
// It is the only code of the module that imports gonja or uses package unsafe. gonja's
// package-level configuration, loader, filter, test and statement sets are never used or
// changed: each [Env] builds its own from explicit lists, so a gonja upgrade that adds a
// filter or a statement adds nothing to templates until it is listed here (sandbox_test.go
// fails until it is).
//
// The caller owns the vocabulary: which variables templates see ([Vars]) and what a compile
// problem or a rendering error is attached to. A rendering of several templates with the same
// variables shares one [Scope], and with it one work budget.
package jinja

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// DefaultMaxSize is the default bound on one template's output.
const DefaultMaxSize = 1 << 20

// Options configure an [Env]. The zero value is ready to use.
type Options struct {
	// MissingAsEmpty makes a missing variable render as empty (None) instead of failing the
	// rendering. Defaults to false: a missing variable without | default(...) is an error.
	MissingAsEmpty bool
	// MaxSize bounds the output of one template, in bytes. Defaults to [DefaultMaxSize].
	MaxSize int
	// Undefined is the error that a rendering's error wraps when a template reads a variable
	// that is missing and has no default. Defaults to [ErrUndefined].
	Undefined error
	// NoFastPath renders every template with gonja, even those that are only text and variable
	// lookups: for tests and benchmarks that compare the fast path with gonja.
	NoFastPath bool
}

// ErrUndefined is the default [Options.Undefined].
var ErrUndefined = errors.New("missing variable")

// Env compiles templates. It is safe for concurrent use, and so are the templates it
// compiles.
type Env struct {
	missingAsEmpty bool
	cfg            *config.Config
	env            *exec.Environment
	maxSize        int
	undefined      error
	fast           bool
}

// New returns an Env configured by o.
func New(o Options) *Env {
	cfg := config.New()
	cfg.StrictUndefined = !o.MissingAsEmpty
	e := &Env{missingAsEmpty: o.MissingAsEmpty, cfg: cfg, maxSize: o.MaxSize, undefined: o.Undefined, fast: !o.NoFastPath}
	if e.maxSize <= 0 {
		e.maxSize = DefaultMaxSize
	}
	if e.undefined == nil {
		e.undefined = ErrUndefined
	}
	e.env = sandbox(e.maxSize, o.MissingAsEmpty)
	return e
}

// Template is one compiled template.
type Template struct {
	env    *Env
	t      *exec.Template
	loader loaders.Loader
	// single is the template's only node when it is exactly one {{ expression }}: its value
	// keeps its type (see Value).
	single *nodes.Output
	// simple is set when the template is only literal text and variable lookups, parts: it
	// is then rendered without gonja unless a variable is missing (see Render and Value).
	simple bool
	parts  []part
	// macros are the names of the macros the template defines at its top level: what it
	// exports as a snippet.
	macros []string
	// reads is what the template and its snippets may read of their variables.
	reads *Reads
}

// templateName is the name of the template being compiled in its loader, which holds its
// source only: snippets are compiled by the sandbox, not read through gonja's loader (see
// snippet.go).
const templateName = "/template"

// Compile compiles src. It returns the problems found instead of a template when there are
// any, each a message such as "line 1 col 20: unknown filter 'uper'" that never quotes the
// template, which may hold a secret. Statements that load other templates are refused; see
// [Env.CompileWith].
func (e *Env) Compile(src string) (*Template, []string) {
	return e.compile(src, nil)
}

// compile compiles src, loading its snippets as state says (see loadSnippets).
func (e *Env) compile(src string, state *loading) (tmpl *Template, ps []string) {
	if !utf8.ValidString(src) {
		// gonja's lexer can loop for ever, allocating, on some invalid UTF-8.
		return nil, []string{"template is not valid UTF-8"}
	}
	s, p := read(src)
	if p != "" {
		return nil, []string{p}
	}
	defer func() {
		if r := recover(); r != nil {
			tmpl, ps = nil, []string{fmt.Sprintf("template cannot be parsed: %v", r)}
		}
	}()
	loader, err := loaders.NewMemoryLoader(map[string]string{templateName: s.text})
	if err != nil {
		return nil, []string{err.Error()}
	}
	t, err := exec.NewTemplate(templateName, e.cfg, loader, e.env)
	if err != nil {
		return nil, []string{syntaxMessage(err, s)}
	}
	root := t.Root()
	s.relocate(root)
	ps = e.checkNames(root)
	ps = append(ps, rewriteTemplate(root)...)
	reads, uses := readsOf(root)
	ps = append(ps, e.loadSnippets(root, state)...) // after the walks, which must not reach them
	if len(ps) > 0 {
		return nil, ps
	}
	for _, u := range uses {
		var more *Reads // anything, for a snippet not loaded (which fails to render)
		if u.snippet != nil {
			more = u.snippet.reads
		}
		reads = reads.Union(more)
	}
	tmpl = &Template{env: e, t: t, loader: loader, macros: topMacros(root), reads: reads}
	if len(root.Nodes) == 1 {
		tmpl.single, _ = root.Nodes[0].(*nodes.Output)
	}
	tmpl.parts, tmpl.simple = simpleParts(root)
	return tmpl, nil
}

// syntaxMessage turns a gonja compile error into "line L col C: message", leaving out the
// template source that gonja puts in its error text.
func syntaxMessage(err error, s source) string {
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		if se.Line > 0 {
			line, col := s.relocateError(se.Line, se.Column)
			return fmt.Sprintf("line %d col %d: %s", line, col, se.Message)
		}
		return se.Message
	}
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return "template cannot be parsed"
}

// checkNames returns a problem for every filter and test the template uses that the
// environment does not have. gonja itself finds them only when it renders the branch that
// uses them.
func (e *Env) checkNames(root *nodes.Template) []string {
	var ps []string
	inspect(root, func(n any) {
		switch n := n.(type) {
		case *nodes.FilterCall:
			if !e.env.Filters.Exists(n.Name) {
				ps = append(ps, fmt.Sprintf("%s: unknown filter '%s'", position(n.Token), n.Name))
			}
		case *nodes.TestCall:
			if !e.env.Tests.Exists(n.Name) {
				ps = append(ps, fmt.Sprintf("%s: unknown test '%s'", position(n.Token), n.Name))
			}
		}
	})
	return ps
}
