package jinja

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlstructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Macros are allowed with a bounded depth. In gonja a macro that calls itself recurses on
// the Go stack until it overflows, which kills the process (it cannot be recovered), and one
// that calls itself twice runs for an exponential time. So every macro call counts against
// the rendering's budget: at most maxCallDepth calls deep (Jinja2 itself fails at about 100
// levels, with a RecursionError), at most maxCalls calls in all, and the output of each is
// charged as work.
const (
	maxCallDepth = 50
	maxCalls     = 10_000
)

// boundedMacro is a {% macro %} statement whose macro counts its calls.
type boundedMacro struct {
	*controlstructures.MacroControlStructure
}

// parseMacro parses {% macro %} as gonja does, into a boundedMacro.
func parseMacro(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	parse, _ := builtins.ControlStructures.Get("macro")
	cs, err := parse(p, args)
	if err != nil {
		return nil, err
	}
	m, ok := cs.(*controlstructures.MacroControlStructure)
	if !ok {
		return nil, fmt.Errorf("gonja's macro statement is a %T, which the sandbox does not know", cs)
	}
	// As in Jinja2, a macro whose body reads varargs or kwargs takes extra positional or
	// keyword arguments into them; gonja wants them declared, as *varargs and **kwargs.
	inspect(&nodes.Template{Nodes: []nodes.Node{m.Wrapper}}, func(n any) {
		if name, ok := n.(*nodes.Name); ok {
			switch name.Name.Val {
			case "varargs":
				m.VarArgsName = cmp.Or(m.VarArgsName, "varargs")
			case "kwargs":
				m.KwArgsName = cmp.Or(m.KwArgsName, "kwargs")
			}
		}
	})
	return &boundedMacro{m}, nil
}

// Execute defines the macro in the renderer's context, as gonja does, with its calls counted.
func (m *boundedMacro) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	macro, err := exec.MacroNodeToFunc(m.Macro, r)
	if err != nil {
		return err
	}
	v, _ := r.Environment.Context.Get(budgetKey)
	b, ok := v.(*budget)
	if !ok {
		return &pyError{"template cannot change " + budgetKey}
	}
	r.Environment.Context.Set(m.Name, exec.Macro(func(params *exec.VarArgs) *exec.Value {
		err := b.enter()
		defer b.leave()
		if err != nil {
			return errValue(err)
		}
		if caller, ok := params.KwArgs[callerKwarg]; ok {
			// gonja's macro takes its caller from where it was defined.
			delete(params.KwArgs, callerKwarg)
			r.Environment.Context.Set("__gonja_caller__", caller)
		}
		out := macro(params)
		if out.IsError() {
			return out
		}
		if err := b.spend(len(out.String()), false); err != nil {
			return errValue(err)
		}
		return markup(out.String(), r)
	}))
	return nil
}

// callerKwarg is the keyword argument that passes the body of a {% call %} block to the
// macro it calls, as caller().
const callerKwarg = "_hookline_caller"

// boundedCall is a {% call %} statement that passes its body to the macro it calls. gonja's
// leaves its body where only a macro defined in the same place finds it, so a call block
// inside a macro has no caller.
type boundedCall struct {
	*controlstructures.CallControlStructure
}

// parseCall parses {% call %} as gonja does, into a boundedCall.
func parseCall(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	parse, _ := builtins.ControlStructures.Get("call")
	cs, err := parse(p, args)
	if err != nil {
		return nil, err
	}
	c, ok := cs.(*controlstructures.CallControlStructure)
	if !ok {
		return nil, fmt.Errorf("gonja's call statement is a %T, which the sandbox does not know", cs)
	}
	at := *c.Location
	at.Type, at.Val = tokens.Name, callerKwarg
	c.Call.Kwargs[callerKwarg] = &nodes.Name{Name: &at}
	return &boundedCall{c}, nil
}

// Execute calls the macro with the block's body as its caller, and writes what it returns.
func (c *boundedCall) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	sub := r.Inherit()
	sub.Environment.Context.Set(callerKwarg, func(*exec.VarArgs) *exec.Value {
		var out strings.Builder
		body := r.Inherit()
		body.Output = &out
		if err := body.ExecuteWrapper(c.Body); err != nil {
			return errValue(err)
		}
		return markup(out.String(), r)
	})
	result := sub.Eval(c.Call)
	if result.IsError() {
		return result
	}
	_, err := io.WriteString(r.Output, result.String())
	return err
}

// markup returns what a macro or a call block rendered: safe from escaping when autoescaping
// is on, as Jinja2 makes it Markup then, and a plain string otherwise (gonja makes it safe).
func markup(s string, r *exec.Renderer) *exec.Value {
	if r.Config.AutoEscape {
		return exec.AsSafeValue(s)
	}
	return exec.AsValue(s)
}

// enter counts a macro call that starts, which leave must end.
func (b *budget) enter() error {
	b.calls++
	b.depth++
	switch {
	case b.depth > maxCallDepth:
		return &pyError{fmt.Sprintf("macros called each other more than %d deep", maxCallDepth)}
	case b.calls > maxCalls:
		return &pyError{fmt.Sprintf("macros were called more than %d times in all", maxCalls)}
	}
	return nil
}

// leave counts a macro call that ends.
func (b *budget) leave() {
	b.depth--
}
