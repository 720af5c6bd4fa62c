package jinja

import (
	"reflect"
	"slices"

	"github.com/nikolalohinski/gonja/v2/nodes"
)

// A template reads the variables of its rendering ([Vars.Data]) only through names: gonja
// resolves every variable, global and local alike, where its syntax tree has a name node, and
// none of the sandbox's filters, tests, methods or globals reads the context any other way
// (only the private budget). A value reaches a local variable, a macro's argument, a loop or
// a snippet only from an expression, whose names are in some tree: the template's own or
// that of a snippet it loads, which sees the same variables. So the names in those trees are
// every variable the template may read, and a name's value is read only through constant
// keys (user.email, user['email']) when every place that holds that name node is such a
// lookup: an alias ({% set u = user %}), a filter, a method call (user.get('email')), a
// computed key (user[k]), a slice or a loop over it reads it as a whole.

// Reads is what a template may read of its variables: which names, and of each, which keys.
// A nil *Reads may read anything. A Reads is never changed once made, and is safe for
// concurrent use.
type Reads struct {
	names map[string]*nameReads
}

// nameReads is how a template reads one variable.
type nameReads struct {
	whole bool     // read otherwise than through constant keys
	keys  []string // the constant keys it is read through, sorted, each once
}

// Read reports whether the template may read the variable name.
func (r *Reads) Read(name string) bool {
	if r == nil {
		return true
	}
	return r.names[name] != nil
}

// Keys returns the keys through which the template reads the variable name, as in
// {{ name.key }} or {{ name['key'] }}, and true, when it reads name only so; or nil and false
// when it may read name as a whole. A name the template does not read has no keys, and true.
// The slice must not be changed.
func (r *Reads) Keys(name string) ([]string, bool) {
	if r == nil {
		return nil, false
	}
	n := r.names[name]
	switch {
	case n == nil:
		return nil, true
	case n.whole:
		return nil, false
	}
	return n.keys, true
}

// Union returns what r and o read together.
func (r *Reads) Union(o *Reads) *Reads {
	if r == nil || o == nil {
		return nil
	}
	out := &Reads{names: make(map[string]*nameReads, len(r.names)+len(o.names))}
	for _, in := range []*Reads{r, o} {
		for name, n := range in.names {
			out.add(name, n.whole, n.keys)
		}
	}
	return out
}

// add records that name is read through keys, and as a whole with whole.
func (r *Reads) add(name string, whole bool, keys []string) {
	n := r.names[name]
	if n == nil {
		n = &nameReads{}
		r.names[name] = n
	}
	n.whole = n.whole || whole
	for _, k := range keys {
		if i, found := slices.BinarySearch(n.keys, k); !found {
			n.keys = slices.Insert(n.keys, i, k)
		}
	}
}

// Reads returns what t and the snippets it loads may read of their variables.
func (t *Template) Reads() *Reads {
	return t.reads
}

// readsOf returns what the syntax tree root, as the sandbox rewrote it, reads, without the
// snippets it loads, and the statements that load them.
func readsOf(root *nodes.Template) (*Reads, []*snippetUse) {
	held := map[*nodes.Name]int{}      // how many places hold each name node
	keys := map[*nodes.Name][]string{} // the constant keys each is looked up with
	called := map[*nodes.Name]bool{}   // those a method is called on, through a subscript too
	var names []*nodes.Name
	var uses []*snippetUse
	walkTreeMeeting(reflect.ValueOf(root), func(v reflect.Value) {
		if n, ok := node[nodes.Name](v); ok {
			names = append(names, n)
		} else if g, ok := node[nodes.GetAttribute](v); ok {
			if name, ok := g.Node.(*nodes.Name); ok && g.Attribute != "" { // not a.0
				keys[name] = append(keys[name], g.Attribute)
			}
		} else if g, ok := node[nodes.GetItem](v); ok {
			name, ok := subscriptTarget(g).(*nodes.Name)
			if k, isString := g.Arg.(*nodes.String); ok && isString {
				keys[name] = append(keys[name], k.Val)
			}
		} else if c, ok := node[nodes.Call](v); ok && c.Parent != nil {
			// gonja calls the method on the parent itself: user['get']('email') would read
			// user as a whole, where it allows it.
			parent := c.Parent
			if f, ok := parent.(*nodes.FilteredExpression); ok && len(f.Filters) == 1 && f.Filters[0].Name == filterSubscript {
				parent = f.Expression
			}
			if name, ok := parent.(*nodes.Name); ok {
				called[name] = true
			}
		} else if u, ok := node[snippetUse](v); ok {
			uses = append(uses, u)
		}
	}, func(v reflect.Value) {
		if n, ok := node[nodes.Name](v); ok {
			held[n]++
		}
	})
	r := &Reads{names: map[string]*nameReads{}}
	for _, n := range names {
		ks := keys[n]
		whole := held[n] > len(ks) || called[n]
		slices.Sort(ks)
		r.add(n.Name.Val, whole, slices.Compact(ks))
	}
	return r, uses
}

// node returns the node of type T that the pointer v points to, if it is one, whether or not
// the walk reached it through an exported field.
func node[T any](v reflect.Value) (*T, bool) {
	if v.Kind() != reflect.Pointer || v.Type() != reflect.TypeFor[*T]() {
		return nil, false
	}
	return (*T)(v.UnsafePointer()), true
}
