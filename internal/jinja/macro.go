package jinja

import (
	"cmp"
	"fmt"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlstructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
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
		out := macro(params)
		if !out.IsError() {
			if err := b.spend(len(out.String()), false); err != nil {
				return errValue(err)
			}
		}
		return out
	}))
	return nil
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
