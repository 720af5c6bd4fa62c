package webhook

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits on audiences, so that one is bounded in what it can make a Sender do.
const (
	maxAudienceDepth = 16
	maxAudienceNodes = 1000
	maxListValues    = 10000
)

// userFields are the names a Criterion's Field may take.
var userFields = []string{"id", "email", "test", "country", "region", "city", "locale", "language", "time_zone", "created_at", "last_active"}

// Kinds of subject of a criterion.
const (
	subjectAttr = iota + 1
	subjectField
	subjectEvent
	subjectBucket
)

// audienceNode is a compiled Audience.
type audienceNode struct {
	all, any []*audienceNode // in evaluation order: those that need no Store query first
	not      *audienceNode
	leaf     *compiledCriterion
	store    bool // evaluating the node may query the Store
}

// compiledCriterion is a compiled Criterion.
type compiledCriterion struct {
	subject int
	name    string // the attribute, field, event or salt
	agg     Aggregate
	param   string
	within  time.Duration
	where   *compiledCondition
	check   comparison
}

// compileAudience validates a and compiles it, adding problems to ps under path. It
// returns nil if there were problems.
func compileAudience(a *Audience, path string, ps *problems) *audienceNode {
	before := len(*ps)
	nodes := 0
	n := compileNode(a, path, 0, &nodes, ps)
	if len(*ps) > before {
		return nil
	}
	return n
}

func compileNode(a *Audience, path string, depth int, nodes *int, ps *problems) *audienceNode {
	if depth > maxAudienceDepth {
		ps.add(path, "nested more than %d levels deep", maxAudienceDepth)
		return nil
	}
	if *nodes++; *nodes > maxAudienceNodes {
		if *nodes == maxAudienceNodes+1 {
			ps.add(path, "more than %d criteria", maxAudienceNodes)
		}
		return nil
	}
	if depth > 0 && a.IsZero() {
		ps.add(path, "empty criterion")
	}
	n := &audienceNode{}
	for _, list := range []struct {
		name string
		from []Audience
		to   *[]*audienceNode
	}{{"all", a.All, &n.all}, {"any", a.Any, &n.any}} {
		for i := range list.from {
			c := compileNode(&list.from[i], fmt.Sprintf("%s.%s[%d]", path, list.name, i), depth+1, nodes, ps)
			if c != nil {
				*list.to = append(*list.to, c)
				n.store = n.store || c.store
			}
		}
		// Evaluate what needs no Store query first: an all-of or any-of often ends there.
		slices.SortStableFunc(*list.to, func(x, y *audienceNode) int {
			if x.store == y.store {
				return 0
			}
			if y.store {
				return -1
			}
			return 1
		})
	}
	if a.Not != nil {
		if n.not = compileNode(a.Not, path+".not", depth+1, nodes, ps); n.not != nil {
			n.store = n.store || n.not.store
		}
	}
	if n.leaf = compileCriterion(&a.Criterion, path, ps); n.leaf != nil {
		n.store = n.store || n.leaf.subject == subjectEvent
	}
	return n
}

// compileCriterion compiles c, or returns nil if it has no subject or problems.
func compileCriterion(c *Criterion, path string, ps *problems) *compiledCriterion {
	l := &compiledCriterion{}
	var subjects []string
	for _, s := range []struct {
		kind       int
		name, json string
	}{{subjectAttr, c.Attr, "attr"}, {subjectField, c.Field, "field"}, {subjectEvent, c.Event, "event"}, {subjectBucket, c.Bucket, "bucket"}} {
		if s.name != "" {
			l.subject, l.name = s.kind, s.name
			subjects = append(subjects, s.json)
		}
	}
	if len(subjects) > 1 {
		ps.add(path, "has %s; a criterion compares one of attr, field, event and bucket", strings.Join(subjects, " and "))
		return nil
	}
	before := len(*ps)
	if l.subject == subjectEvent {
		compileEventOptions(c, l, path, ps)
	} else {
		for _, f := range eventOptions(c) {
			ps.add(path+"."+f, "only an event criterion has %s", f)
		}
	}
	if len(subjects) == 0 {
		if c.Op != "" || c.Value != nil {
			ps.add(path+".op", "compares nothing: give attr, field, event or bucket")
		}
		return nil
	}
	if l.subject == subjectField && !slices.Contains(userFields, c.Field) {
		ps.add(path+".field", "unknown user field %q; one of %s", c.Field, strings.Join(userFields, ", "))
	}
	if c.Op == "" {
		ps.add(path+".op", "required")
	} else if t, ok := compileComparison(c.Op, c.Value, path, ps); ok {
		l.check = t
		want := l.valueKinds()
		switch {
		case want == 0:
		case slices.Contains([]Op{OpContains, OpNotContains, OpStartsWith, OpEmpty}, c.Op):
			ps.add(path+".op", "%s does not apply to %s", c.Op, l.describe())
		case t.kind&want == 0:
			ps.add(path+".op", "%s cannot be compared %s", l.describe(), t.describe())
		}
	}
	if len(*ps) > before {
		return nil
	}
	return l
}

// eventOptions lists the fields of c that only event criteria may have.
func eventOptions(c *Criterion) []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"agg", c.Agg != ""}, {"param", c.Param != ""}, {"within", c.Within != 0}, {"where", c.Where != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

func compileEventOptions(c *Criterion, l *compiledCriterion, path string, ps *problems) {
	l.agg, l.param, l.within = c.Agg, c.Param, time.Duration(c.Within)
	if l.agg == "" {
		l.agg = AggCount
	}
	switch l.agg {
	case AggSum, AggAvg, AggMin, AggMax:
		if c.Param == "" {
			ps.add(path+".param", "required for agg %s", l.agg)
		}
	case AggCount, AggFirst, AggLast:
		if c.Param != "" {
			ps.add(path+".param", "only sum, avg, min and max aggregate a param")
		}
	default:
		ps.add(path+".agg", "unknown aggregate %q; one of count, sum, avg, min, max, first, last", c.Agg)
	}
	if c.Within < 0 {
		ps.add(path+".within", "must not be negative")
	}
	if c.Where != nil {
		l.where = compileCondition(c.Where, path+".where", ps)
	}
}

// valueKinds returns the kinds of value l's subject can have, or 0 for any.
func (l *compiledCriterion) valueKinds() valueKind {
	switch {
	case l.subject == subjectBucket:
		return kindNumber
	case l.subject != subjectEvent:
		return 0
	case l.agg == AggFirst || l.agg == AggLast:
		return kindTime | kindDuration | kindNone
	}
	return kindNumber | kindNone
}

func (l *compiledCriterion) describe() string {
	switch l.subject {
	case subjectBucket:
		return "a bucket (a number)"
	case subjectEvent:
		if l.agg == AggFirst || l.agg == AggLast {
			return "the time of an event's " + string(l.agg) + " occurrence"
		}
		return "an event " + string(l.agg) + " (a number)"
	}
	return "this subject"
}

// compiledCondition is a compiled Condition.
type compiledCondition struct {
	key   string
	check comparison
}

// compileCondition validates c and compiles it, or returns nil if it has problems.
func compileCondition(c *Condition, path string, ps *problems) *compiledCondition {
	before := len(*ps)
	if c.Key == "" {
		ps.add(path+".key", "required")
	}
	var t comparison
	switch c.Op {
	case "":
		ps.add(path+".op", "required")
	case OpWithinLast, OpOlderThan:
		ps.add(path+".op", "%s is not available in a condition", c.Op)
	default:
		t, _ = compileComparison(c.Op, c.Value, path, ps)
	}
	if len(*ps) > before {
		return nil
	}
	return &compiledCondition{key: c.Key, check: t}
}

// Match reports whether m's value at c.Key meets c. A nil Condition matches every Map; an
// invalid one matches nothing.
func (c *Condition) Match(m Map) bool {
	if c == nil {
		return true
	}
	var ps problems
	cc := compileCondition(c, "", &ps)
	return cc != nil && cc.matches(m)
}

// validateConditions checks conditions given as a list at path.
func validateConditions(cs []Condition, path string, ps *problems) []*compiledCondition {
	out := make([]*compiledCondition, 0, len(cs))
	for i := range cs {
		out = append(out, compileCondition(&cs[i], fmt.Sprintf("%s[%d]", path, i), ps))
	}
	return out
}

// compileTargeting checks and compiles a message's Delivery.Where and Audience (nil for an
// empty Audience).
func compileTargeting(m *Message, ps *problems) (where []*compiledCondition, audience *audienceNode) {
	if len(m.Delivery.Where) > 0 && m.Delivery.kind() != Triggered {
		ps.add("delivery.where", "only a triggered message filters its event's parameters")
	}
	where = validateConditions(m.Delivery.Where, "delivery.where", ps)
	audience = compileAudience(&m.Audience, "audience", ps)
	if m.Audience.IsZero() {
		audience = nil
	}
	return where, audience
}
