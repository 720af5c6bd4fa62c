package jinja

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Snippets are named templates that other templates load: {% include 'footer' %} renders one
// in place, {% import 'crm' as crm %} binds its macros to a name (crm.contact(...)), and
// {% from 'crm' import contact %} binds some of them. gonja's own statements read the named
// template through the loader and compile it at every rendering, without the sandbox's
// checks; the sandbox's read the name when the template is compiled, compile the snippet
// once through the same checks and limits as any template ([Env.CompileWith]), and render
// what they compiled.

// Limits on snippets, so that a template that loads snippets is bounded as one that does not.
const (
	// maxSnippets is the most snippets one template may load, directly or through others.
	maxSnippets = 64
	// maxSnippetDepth is the longest chain of snippets loading each other.
	maxSnippetDepth = 10
)

// Library holds the snippets that templates load by name. The caller implements it; nothing
// is read from disk.
type Library interface {
	// Snippet returns the source of the snippet with the given name, and false if there is
	// none.
	Snippet(name string) (string, bool)
}

// CompileWith compiles src as [Env.Compile] does, and lets it load the snippets of lib with
// {% include %}, {% import %} and {% from %}. The name of a snippet must be a string
// literal, so that every snippet a template may load is known when it is compiled: each is
// read from lib and compiled once, with the same checks and limits as src, and a snippet that
// is missing, that loads itself (directly or through others), or that has no macro a
// {% from %} imports is a problem, at the position of the statement. A template may load at
// most 64 snippets, in chains at most 10 deep.
//
// With a nil lib the statements are checked but the snippets are not read, as when only the
// syntax is wanted: such a template fails to render a statement that loads one.
func (e *Env) CompileWith(src string, lib Library) (*Template, []string) {
	return e.compile(src, &loading{lib: lib, compiled: map[string]*Template{}})
}

// CompileSnippet compiles src, the source of the snippet name, as CompileWith does, where
// loading name is loading the snippet itself.
func (e *Env) CompileSnippet(name, src string, lib Library) (*Template, []string) {
	return e.compile(src, &loading{lib: lib, compiled: map[string]*Template{}, chain: []string{name}})
}

// loading is the state of one CompileWith: the snippets compiled so far, by name, and the
// chain of those being compiled, to find cycles.
type loading struct {
	lib      Library
	compiled map[string]*Template
	chain    []string
}

// snippetUse is a statement that loads a snippet. Its snippet is set once the template that
// holds it is compiled and checked, so the sandbox's walks of that template never reach it.
type snippetUse struct {
	location *tokens.Token
	kind     string // include, import or from
	name     string // the snippet's name
	as       string // import: the name its macros are bound to
	imports  []imported
	snippet  *Template
}

// imported is a macro that {% from %} binds, and the name it binds it to.
type imported struct {
	name, alias string
}

// Position implements nodes.ControlStructure.
func (u *snippetUse) Position() *tokens.Token { return u.location }

// String names the statement without quoting the template. Its form is what describeError
// leaves out of rendering errors.
func (u *snippetUse) String() string {
	return fmt.Sprintf("SnippetControlStructure(%s %q)", u.kind, u.name)
}

// parseSnippetUse returns the parser of a statement that loads a snippet.
func parseSnippetUse(kind string) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		at := args.Current() // the snippet's name: where problems with it are reported
		u := &snippetUse{location: at, kind: kind}
		expr, err := args.ParseExpression()
		if err != nil {
			return nil, err
		}
		name, ok := expr.(*nodes.String)
		if !ok {
			return nil, args.Error(fmt.Sprintf("the snippet '%s' loads must be named by a string literal, such as 'footer'", kind), at)
		}
		u.name = name.Val
		switch kind {
		case "import":
			if args.MatchName("as") == nil {
				return nil, args.Error("expected 'as' and a name after the snippet's name", args.Current())
			}
			alias := args.Match(tokens.Name)
			if alias == nil {
				return nil, args.Error("expected a name after 'as'", args.Current())
			}
			u.as = alias.Val
		case "from":
			if args.MatchName("import") == nil {
				return nil, args.Error("expected 'import' after the snippet's name", args.Current())
			}
			for {
				m := args.Match(tokens.Name)
				if m == nil {
					return nil, args.Error("expected the name of a macro to import", args.Current())
				}
				imp := imported{m.Val, m.Val}
				if args.MatchName("as") != nil {
					alias := args.Match(tokens.Name)
					if alias == nil {
						return nil, args.Error("expected a name after 'as'", args.Current())
					}
					imp.alias = alias.Val
				}
				u.imports = append(u.imports, imp)
				if args.Match(tokens.Comma) == nil {
					break
				}
			}
		}
		// Jinja2's "with context" and "without context" change nothing here: a snippet sees
		// the variables of the template that loads it.
		if args.MatchName("with", "without") != nil && args.MatchName("context") == nil {
			return nil, args.Error("expected 'context'", args.Current())
		}
		if !args.End() {
			return nil, args.Error(fmt.Sprintf("unexpected '%s'", args.Current().Val), args.Current())
		}
		return u, nil
	}
}

// loadSnippets compiles the snippets that the statements of root load and returns the
// problems found; with no state (Compile), every such statement is a problem.
func (e *Env) loadSnippets(root *nodes.Template, state *loading) []string {
	var ps []string
	var uses []*snippetUse
	inspect(root, func(n any) {
		if u, ok := n.(*snippetUse); ok {
			uses = append(uses, u)
		}
	})
	for _, u := range uses {
		at := position(u.location)
		switch {
		case state == nil:
			ps = append(ps, fmt.Sprintf("%s: '%s' is not allowed: templates cannot load other templates", at, u.kind))
			continue
		case state.lib == nil:
			continue
		}
		t, problem := e.snippet(u.name, state)
		if problem != "" {
			ps = append(ps, at+": "+problem)
			continue
		}
		for _, imp := range u.imports {
			if !slices.Contains(t.macros, imp.name) {
				ps = append(ps, fmt.Sprintf("%s: snippet '%s' has no macro '%s'", at, u.name, imp.name))
			}
		}
		u.snippet = t
	}
	return ps
}

// snippet returns the snippet name compiled, or a problem.
func (e *Env) snippet(name string, state *loading) (*Template, string) {
	if t, ok := state.compiled[name]; ok {
		return t, ""
	}
	switch {
	case slices.Contains(state.chain, name):
		cycle := append(state.chain[slices.Index(state.chain, name):], name)
		return nil, fmt.Sprintf("snippet '%s' loads itself: %s", name, strings.Join(cycle, " → "))
	case len(state.chain) >= maxSnippetDepth:
		return nil, fmt.Sprintf("snippets load each other more than %d deep", maxSnippetDepth)
	case len(state.compiled) >= maxSnippets:
		return nil, fmt.Sprintf("more than %d snippets", maxSnippets)
	}
	src, ok := state.lib.Snippet(name)
	if !ok {
		return nil, fmt.Sprintf("no snippet '%s'", name)
	}
	state.chain = append(state.chain, name)
	t, ps := e.compile(src, state)
	state.chain = state.chain[:len(state.chain)-1]
	if len(ps) > 0 {
		return nil, fmt.Sprintf("in snippet '%s': %s", name, strings.Join(ps, "; "))
	}
	state.compiled[name] = t
	return t, ""
}

// topMacros returns the names of the macros that root defines at its top level: those a
// snippet exports.
func topMacros(root *nodes.Template) []string {
	var names []string
	for _, n := range root.Nodes {
		if b, ok := n.(*nodes.ControlStructureBlock); ok {
			if m, ok := b.ControlStructure.(*boundedMacro); ok {
				names = append(names, m.Name)
			}
		}
	}
	return names
}

// Execute renders the snippet in place (include), or binds its macros (import, from). Each
// use counts as a macro call against the rendering's budget.
func (u *snippetUse) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	if u.snippet == nil {
		return &pyError{fmt.Sprintf("snippet '%s' was not loaded", u.name)}
	}
	v, _ := r.Environment.Context.Get(budgetKey)
	b, ok := v.(*budget)
	if !ok {
		return &pyError{"template cannot change " + budgetKey}
	}
	err := b.enter()
	defer b.leave()
	if err != nil {
		return err
	}
	sub := r.Inherit()
	out := r.Output
	if u.kind != "include" {
		out = io.Discard // what the snippet prints around its macros is not part of the output
	}
	s := u.snippet
	if err := exec.NewRenderer(sub.Environment, out, r.Config, s.loader, s.t).Execute(); err != nil {
		return err
	}
	ctx := sub.Environment.Context
	switch u.kind {
	case "import":
		module := make(map[string]any, len(s.macros))
		for _, name := range s.macros {
			module[name], _ = ctx.Get(name)
		}
		r.Environment.Context.Set(u.as, module)
	case "from":
		for _, imp := range u.imports {
			m, _ := ctx.Get(imp.name)
			r.Environment.Context.Set(imp.alias, m)
		}
	}
	return nil
}
