package jinja

import (
	"errors"
	"fmt"
	"html"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	controlstructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// The filters, tests and globals where gonja differs from Jinja2, written as Jinja2 has them.
// sandbox registers them in place of gonja's (guarded by the limits like the others); the
// differential test (jinja2_test.go) checks them against Jinja2 itself.

// tuple is a Python tuple: a list that prints with parentheses. Tuple literals, partition
// and dictsort make them.
type tuple []any

// subscripted is a string or a list being indexed (s[i]) as Python indexes it: by character,
// from the end for a negative index. rewriteTemplate puts the target of every [] in
// filterSubscript, which makes strings and lists subscripted for gonja to index.
type subscripted struct{ v *exec.Value }

// GetItem returns item i of s, and whether it is there.
func (s subscripted) GetItem(key any) (*exec.Value, bool) {
	i, ok := key.(int)
	if !ok {
		return exec.AsValue(nil), false
	}
	if kindOf(s.v) == kindStr {
		r := []rune(s.v.String())
		if i < 0 {
			i += len(r)
		}
		if i < 0 || i >= len(r) {
			return exec.AsValue(nil), false
		}
		return exec.AsValue(string(r[i])), true
	}
	n := s.v.Len()
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return exec.AsValue(nil), false
	}
	return s.v.Index(i), true
}

// loopVar is the loop variable of a for loop as Jinja2 has it: recursive loops are refused,
// so depth is always 1, and previtem and nextitem are undefined at the ends of the loop, not
// None. rewriteTemplate puts every name "loop" in filterLoopVar, which makes gonja's loop
// variable a loopVar.
type loopVar struct{ *controlstructures.LoopInfos }

// GetAttribute returns the attribute name of the loop, and whether it is there.
func (l loopVar) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "depth":
		return exec.AsValue(1), true
	case "depth0":
		return exec.AsValue(0), true
	}
	v, ok := l.LoopInfos.GetAttribute(name)
	if (name == "previtem" || name == "nextitem") && v.IsNil() {
		return v, false
	}
	return v, ok
}

// subscript returns the target of a [] as gonja should index it.
func subscript(in, key *exec.Value) *exec.Value {
	if k := kindOf(in); (k == kindStr || k == kindList) && kindOf(key) == kindInt {
		return exec.AsValue(subscripted{in})
	}
	return in
}

// listLiteral returns the value of a list literal, or the error of its first item that
// failed: gonja keeps failed items in the list, where Jinja2 fails.
func listLiteral(in *exec.Value) *exec.Value {
	for i := range in.Len() {
		if it := in.Index(i); it.IsError() {
			return it
		}
	}
	return in
}

// dictLiteral returns the value of a dict literal with each key once, at its first place
// with its last value, as in Python.
func dictLiteral(in *exec.Value) *exec.Value {
	d, ok := in.Interface().(*exec.Dict)
	if !ok {
		return in
	}
	out := exec.NewDict()
	for _, p := range d.Pairs {
		i := slices.IndexFunc(out.Pairs, func(q *exec.Pair) bool { return pyEqual(q.Key, p.Key) })
		if i < 0 {
			out.Pairs = append(out.Pairs, p)
		} else {
			out.Pairs[i] = &exec.Pair{Key: out.Pairs[i].Key, Value: p.Value}
		}
	}
	return exec.AsValue(out)
}

// toTuple returns the items of a tuple literal as a tuple.
func toTuple(in *exec.Value) *exec.Value {
	if in = listLiteral(in); in.IsError() {
		return in
	}
	items := make(tuple, in.Len())
	for i := range items {
		items[i] = in.Index(i)
	}
	return exec.AsValue(items)
}

// jinja2Filters are the filters written here, replacing gonja's of the same name.
func jinja2Filters(missingAsEmpty bool) map[string]exec.FilterFunction {
	length := func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		switch kindOf(in) {
		case kindStr:
			return exec.AsValue(utf8.RuneCountInString(in.String()))
		case kindList, kindDict:
			return exec.AsValue(in.Len())
		case kindNone:
			if missingAsEmpty {
				return exec.AsValue(0)
			}
		}
		return errValue(pyErrorf("object of type '%s' has no len()", typeName(in)))
	}
	undefined := func(msg string) *exec.Value {
		if missingAsEmpty {
			return exec.AsValue(nil)
		}
		return errValue(&pyError{msg})
	}
	fs := map[string]exec.FilterFunction{
		"default": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("default", params, "default_value", "boolean")
			if err != nil {
				return errValue(err)
			}
			if args[0] == nil {
				args[0] = exec.AsValue("")
			}
			switch {
			case in.IsError() && !missingLast(in):
				return in
			case in.IsError(), missingAsEmpty && in.IsNil(), args[1] != nil && args[1].IsTrue() && !in.IsTrue():
				return args[0]
			}
			return in
		},
		"round": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("round", params, "precision", "method")
			if err != nil {
				return errValue(err)
			}
			precision, method := 0, "common"
			if args[0] != nil {
				precision = asInt(args[0])
			}
			if args[1] != nil {
				method = pyStr(args[1])
			}
			if !isNumber(in) {
				return errValue(pyErrorf("type %s doesn't define __round__ method", typeName(in)))
			}
			return pyRound(in, precision, method)
		},
		"tojson": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("tojson", params, "indent")
			if err != nil {
				return errValue(err)
			}
			indent := -1
			if args[0] != nil && !args[0].IsNil() {
				indent = asInt(args[0])
			}
			var b strings.Builder
			if err := writeJSON(&b, in, indent, 0); err != nil {
				return errValue(err)
			}
			return exec.AsSafeValue(htmlSafeJSON.Replace(b.String()))
		},
		"urlencode": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			if _, err := bind("urlencode", params); err != nil {
				return errValue(err)
			}
			if k := kindOf(in); k != kindList && k != kindDict {
				return exec.AsValue(urlQuote(text(in, missingAsEmpty), "/"))
			}
			var pairs []*exec.Pair
			if kindOf(in) == kindDict {
				pairs = dictItems(in)
			} else {
				items, err := iterate(in)
				if err != nil {
					return errValue(err)
				}
				for _, it := range items {
					if it.Len() != 2 {
						return errValue(pyErrorf("urlencode takes pairs"))
					}
					pairs = append(pairs, &exec.Pair{Key: it.Index(0), Value: it.Index(1)})
				}
			}
			parts := make([]string, len(pairs))
			for i, p := range pairs {
				parts[i] = urlQuote(pyStr(p.Key), "") + "=" + urlQuote(pyStr(p.Value), "")
				parts[i] = strings.ReplaceAll(parts[i], "%20", "+")
			}
			return exec.AsValue(strings.Join(parts, "&"))
		},
		"striptags": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			s := reComment.ReplaceAllString(text(in, missingAsEmpty), "")
			s = reTag.ReplaceAllString(s, "")
			return exec.AsValue(html.UnescapeString(strings.Join(strings.Fields(s), " ")))
		},
		"format": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			var args *exec.Value
			switch {
			case len(params.KwArgs) > 0 && len(params.Args) > 0:
				return errValue(pyErrorf("can't handle positional and keyword arguments at the same time"))
			case len(params.KwArgs) > 0:
				d := exec.NewDict()
				for k, v := range params.KwArgs {
					d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue(k), Value: v})
				}
				args = exec.AsValue(d)
			default:
				items := make(tuple, len(params.Args))
				for i, a := range params.Args {
					items[i] = a
				}
				args = exec.AsValue(items)
			}
			s, err := printf(pyStr(in), args, DefaultMaxSize)
			if err != nil {
				return errValue(err)
			}
			return exec.AsValue(s)
		},
		"min": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			return extreme(in, params, -1, undefined)
		},
		"max": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			return extreme(in, params, 1, undefined)
		},
		"dictsort": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("dictsort", params, "case_sensitive", "by", "reverse")
			if err != nil {
				return errValue(err)
			}
			if kindOf(in) != kindDict {
				return errValue(pyErrorf("dictsort takes a dict, not %s", typeName(in)))
			}
			byValue := args[1] != nil && pyStr(args[1]) == "value"
			caseSensitive := args[0] != nil && args[0].IsTrue()
			pairs := dictItems(in)
			keys := make([]*exec.Value, len(pairs))
			for i, p := range pairs {
				keys[i] = p.Key
				if byValue {
					keys[i] = p.Value
				}
				keys[i] = sortKey(keys[i], caseSensitive)
			}
			idx, err := sortedOrder(keys, args[2] != nil && args[2].IsTrue())
			if err != nil {
				return errValue(err)
			}
			out := make([]any, len(idx))
			for i, j := range idx {
				out[i] = tuple{pairs[j].Key, pairs[j].Value}
			}
			return exec.AsValue(out)
		},
		"attr": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("attr", params, "name")
			if err != nil || args[0] == nil {
				return errValue(pyErrorf("attr() takes a name"))
			}
			name := pyStr(args[0])
			if kindOf(in) == kindDict {
				return undefined(fmt.Sprintf("'dict object' has no attribute %s", reprString(name)))
			}
			v, ok := in.GetAttribute(name)
			if !ok {
				return undefined(fmt.Sprintf("'%s object' has no attribute %s", typeName(in), reprString(name)))
			}
			return v
		},
		"reverse": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			if kindOf(in) == kindStr {
				r := []rune(in.String())
				for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
					r[i], r[j] = r[j], r[i]
				}
				return exec.AsValue(string(r))
			}
			items, err := iterate(in)
			if err != nil {
				return errValue(err)
			}
			out := make([]any, len(items))
			for i, it := range items {
				out[len(items)-1-i] = it
			}
			return exec.AsValue(out)
		},
		"join": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("join", params, "d", "attribute")
			if err != nil {
				return errValue(err)
			}
			items, err := iterate(in)
			if err != nil {
				return errValue(err)
			}
			sep := ""
			if args[0] != nil {
				sep = pyStr(args[0])
			}
			parts := make([]string, len(items))
			for i, it := range items {
				if args[1] != nil {
					if it, err = attribute(it, pyStr(args[1])); err != nil {
						return errValue(err)
					}
				}
				parts[i] = pyStr(it)
			}
			return exec.AsValue(strings.Join(parts, sep))
		},
		"first": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			items, err := iterate(in)
			switch {
			case err != nil:
				return errValue(err)
			case len(items) == 0:
				return undefined("No first item, sequence was empty.")
			}
			return items[0]
		},
		"last": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			items, err := iterate(in)
			switch {
			case err != nil:
				return errValue(err)
			case len(items) == 0:
				return undefined("No last item, sequence was empty.")
			}
			return items[len(items)-1]
		},
		"length": length,
		"count":  length,
		"string": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			if kindOf(in) == kindStr {
				return in
			}
			return exec.AsValue(text(in, missingAsEmpty))
		},
		"upper": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			return exec.AsValue(upper(text(in, missingAsEmpty)))
		},
		"title": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			var b strings.Builder
			for _, word := range splitKeep(reWordBeginning, text(in, missingAsEmpty)) {
				r, size := utf8.DecodeRuneInString(word)
				b.WriteString(upper(string(r)))
				b.WriteString(strings.ToLower(word[size:]))
			}
			return exec.AsValue(b.String())
		},
		"capitalize": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			return exec.AsValue(capitalize(text(in, missingAsEmpty)))
		},
		"center": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("center", params, "width")
			if err != nil {
				return errValue(err)
			}
			if args[0] == nil {
				args[0] = exec.AsValue(80)
			}
			s, err := strMethods["center"](text(in, missingAsEmpty), args[:1], nil, DefaultMaxSize)
			if err != nil {
				return errValue(err)
			}
			return exec.AsValue(s)
		},
		"wordcount": func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
			return exec.AsValue(len(reWord.FindAllString(text(in, missingAsEmpty), -1)))
		},
		"wordwrap": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("wordwrap", params, "width", "break_long_words", "wrapstring", "break_on_hyphens")
			if err != nil {
				return errValue(err)
			}
			width, sep := 79, "\n"
			if args[0] != nil {
				width = asInt(args[0])
			}
			if args[2] != nil {
				sep = pyStr(args[2])
			}
			breakLong := args[1] == nil || args[1].IsTrue()
			hyphens := args[3] == nil || args[3].IsTrue()
			var lines []string
			for _, para := range strings.Split(strings.TrimSuffix(text(in, missingAsEmpty), "\n"), "\n") {
				lines = append(lines, wrap(para, width, breakLong, hyphens)...)
			}
			return exec.AsValue(strings.Join(lines, sep))
		},
		"int": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("int", params, "default", "base")
			if err != nil {
				return errValue(err)
			}
			base := 10
			if args[1] != nil {
				base = asInt(args[1])
			}
			if n, ok := pyInt(in, base); ok {
				return exec.AsValue(n)
			}
			if f, ok := pyFloat(in); ok && !math.IsNaN(f) {
				if math.IsInf(f, 0) || math.Abs(f) >= 1<<63 {
					return errValue(pyErrorf("cannot convert float %s to integer", reprFloat(f)))
				}
				return exec.AsValue(int(f))
			}
			if args[0] != nil {
				return args[0]
			}
			return exec.AsValue(0)
		},
		"float": func(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("float", params, "default")
			if err != nil {
				return errValue(err)
			}
			if f, ok := pyFloat(in); ok {
				return exec.AsValue(f)
			}
			if args[0] != nil {
				return args[0]
			}
			return exec.AsValue(0.0)
		},
		"sum": func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			args, err := bind("sum", params, "attribute", "start")
			if err != nil {
				return errValue(err)
			}
			items, err := iterate(in)
			if err != nil {
				return errValue(err)
			}
			total := exec.AsValue(0)
			if args[1] != nil {
				total = args[1]
			}
			for _, it := range items {
				if args[0] != nil {
					if it, err = attribute(it, pyStr(args[0])); err != nil {
						return errValue(err)
					}
				}
				if total = binop(e, "+", total, it, DefaultMaxSize, false); total.IsError() {
					return total
				}
			}
			return total
		},
	}
	fs["d"] = fs["default"]
	fs["items"] = func(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		if kindOf(in) != kindDict {
			return errValue(pyErrorf("items() takes a dict, not %s", typeName(in)))
		}
		return exec.AsValue(itemTuples(in))
	}
	return fs
}

// pyInt is Python's int(v) for an int or a bool, and int(v, base) for a string, and whether
// it succeeds.
func pyInt(v *exec.Value, base int) (int, bool) {
	switch kindOf(v) {
	case kindInt, kindBool:
		return asInt(v), true
	case kindStr:
	default:
		return 0, false
	}
	s := strings.TrimSpace(v.String())
	sign := ""
	if s != "" && (s[0] == '-' || s[0] == '+') {
		sign, s = s[:1], s[1:]
	}
	prefixes := map[int]string{16: "0x", 8: "0o", 2: "0b"}
	if base == 0 {
		base = 10
		for b, p := range prefixes {
			if len(s) > 2 && strings.EqualFold(s[:2], p) {
				base = b
			}
		}
		if base == 10 && len(s) > 1 && strings.Trim(s, "0_") != "" && s[0] == '0' {
			return 0, false // Python refuses leading zeros then
		}
	}
	if p := prefixes[base]; len(s) > 2 && strings.EqualFold(s[:2], p) {
		s = strings.TrimPrefix(s[2:], "_")
	}
	if base < 2 || base > 36 || s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	n, err := strconv.ParseInt(sign+strings.ReplaceAll(s, "_", ""), base, 64)
	return int(n), err == nil
}

// pyFloat is Python's float(v) for a number or a string, and whether it succeeds.
func pyFloat(v *exec.Value) (float64, bool) {
	switch kindOf(v) {
	case kindInt, kindBool, kindFloat:
		return asFloat(v), true
	case kindStr:
		s := strings.TrimSpace(v.String())
		if strings.HasPrefix(strings.TrimLeft(s, "+-"), "0x") || strings.HasPrefix(strings.TrimLeft(s, "+-"), "0X") {
			return 0, false // Go reads hexadecimal floats, Python does not
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil || errors.Is(err, strconv.ErrRange)
	}
	return 0, false
}

// itemTuples returns the items of the dict v as (key, value) tuples.
func itemTuples(v *exec.Value) []any {
	pairs := dictItems(v)
	out := make([]any, len(pairs))
	for i, p := range pairs {
		out[i] = tuple{p.Key, p.Value}
	}
	return out
}

// htmlSafeJSON escapes the characters Jinja2's tojson escapes, so that JSON can go in HTML.
var htmlSafeJSON = strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, "'", `\u0027`)

// strInputFilters are gonja's filters that are right for strings but, unlike Jinja2's, do
// not turn other values into strings first: sandbox gives them str(value).
var strInputFilters = []string{"e", "escape", "forceescape", "lower", "trim", "truncate", "replace",
	"indent", "urlize"}

// strInput wraps a filter so that its input is text(value) unless it is a string.
func strInput(f exec.FilterFunction, missingAsEmpty bool) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if !in.IsError() && kindOf(in) != kindStr {
			in = &exec.Value{Val: reflect.ValueOf(text(in, missingAsEmpty)), Safe: in.Safe}
		}
		return f(e, in, params)
	}
}

// missingLast reports whether v is gonja's error for a variable that is missing at the last
// step of its lookup: a missing name, or a missing key or attribute of a value that is there.
// That is Jinja2's Undefined, which | default(...) replaces.
func missingLast(v *exec.Value) bool {
	msg := v.Error()
	return strings.HasPrefix(msg, `Unable to evaluate name "`) || reMissingLast.MatchString(msg)
}

var reMissingLast = regexp.MustCompile(`^[Uu]nable to evaluate [^:]*: (?:item|attribute) '.*' not found$`)

// iterate returns the items of v as a for loop sees them: a string's characters, a list's
// items, a dict's keys.
func iterate(v *exec.Value) ([]*exec.Value, error) {
	switch kindOf(v) {
	case kindStr:
		var out []*exec.Value
		for _, r := range v.String() {
			out = append(out, exec.AsValue(string(r)))
		}
		return out, nil
	case kindList:
		out := make([]*exec.Value, v.Len())
		for i := range out {
			out[i] = v.Index(i)
		}
		return out, nil
	case kindDict:
		pairs := dictItems(v)
		out := make([]*exec.Value, len(pairs))
		for i, p := range pairs {
			out[i] = p.Key
		}
		return out, nil
	}
	return nil, pyErrorf("'%s' object is not iterable", typeName(v))
}

// attribute returns the attribute or item name of v, with Jinja2's dotted paths (a.b.0).
func attribute(v *exec.Value, name string) (*exec.Value, error) {
	for _, part := range strings.Split(name, ".") {
		var x *exec.Value
		var ok bool
		if n, err := strconv.Atoi(part); err == nil && kindOf(v) == kindList {
			x, ok = v.GetItem(n)
		} else {
			x, ok = v.GetItem(part)
		}
		if !ok {
			return nil, pyErrorf("%s has no attribute %s", typeName(v), reprString(part))
		}
		v = x
	}
	return v, nil
}

// sortKey returns v for sorting: lower-cased if it is a string and the sort ignores case.
func sortKey(v *exec.Value, caseSensitive bool) *exec.Value {
	if !caseSensitive && kindOf(v) == kindStr {
		return exec.AsValue(strings.ToLower(v.String()))
	}
	return v
}

// sortedOrder returns the indexes of keys in the order Python's stable sort puts them, or an
// error if Python cannot order two of them.
func sortedOrder(keys []*exec.Value, reverse bool) ([]int, error) {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	var err error
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := keys[idx[i]], keys[idx[j]]
		if reverse {
			a, b = b, a
		}
		c, e := order(a, b)
		if e != nil && err == nil {
			err = pyErrorf("'<' not supported between instances of '%s' and '%s'", typeName(a), typeName(b))
		}
		return c < 0
	})
	return idx, err
}

// extreme is Jinja2's min (dir -1) and max (dir 1).
func extreme(in *exec.Value, params *exec.VarArgs, dir int, undefined func(string) *exec.Value) *exec.Value {
	args, err := bind("min", params, "case_sensitive", "attribute")
	if err != nil {
		return errValue(err)
	}
	items, err := iterate(in)
	if err != nil {
		return errValue(err)
	}
	if len(items) == 0 {
		return undefined("No aggregated item, sequence was empty.")
	}
	caseSensitive := args[0] != nil && args[0].IsTrue()
	best, bestKey := -1, (*exec.Value)(nil)
	for i, it := range items {
		k := it
		if args[1] != nil {
			if k, err = attribute(it, pyStr(args[1])); err != nil {
				return errValue(err)
			}
		}
		k = sortKey(k, caseSensitive)
		if best >= 0 {
			c, err := order(k, bestKey)
			if err != nil {
				return errValue(pyErrorf("'<' not supported between instances of '%s' and '%s'", typeName(k), typeName(bestKey)))
			}
			if c*dir <= 0 {
				continue
			}
		}
		best, bestKey = i, k
	}
	return items[best]
}

// bind binds a filter call's arguments to the named parameters, positional ones first;
// parameters not given are nil.
func bind(fname string, params *exec.VarArgs, names ...string) ([]*exec.Value, error) {
	out := make([]*exec.Value, len(names))
	if len(params.Args) > len(names) {
		return nil, pyErrorf("%s() takes at most %d arguments (%d given)", fname, len(names), len(params.Args))
	}
	copy(out, params.Args)
	for k, v := range params.KwArgs {
		i := -1
		for j, n := range names {
			if n == k {
				i = j
			}
		}
		if i < 0 {
			return nil, pyErrorf("%s() got an unexpected keyword argument %s", fname, reprString(k))
		}
		if out[i] != nil {
			return nil, pyErrorf("%s() got multiple values for argument %s", fname, reprString(k))
		}
		out[i] = v
	}
	return out, nil
}

// pyRound is Jinja2's round: Python's round (half to even, on the float's exact value) for
// the common method, or floor or ceil.
func pyRound(in *exec.Value, precision int, method string) *exec.Value {
	if kindOf(in) != kindFloat && method == "common" {
		return exec.AsValue(asInt(in)) // Python's round of an int is the int
	}
	f := asFloat(in)
	scale := math.Pow(10, float64(precision))
	switch method {
	case "floor":
		return exec.AsValue(math.Floor(f*scale) / scale)
	case "ceil":
		return exec.AsValue(math.Ceil(f*scale) / scale)
	case "common":
	default:
		return errValue(pyErrorf("method must be common, ceil or floor"))
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return exec.AsValue(f)
	}
	if precision < 0 {
		r, _ := strconv.ParseFloat(strconv.FormatFloat(f/(1/scale), 'f', 0, 64), 64)
		return exec.AsValue(r / scale)
	}
	// FormatFloat rounds the exact binary value, halves to even, as Python's round does.
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', precision, 64), 64)
	return exec.AsValue(r)
}

// writeJSON writes v as Python's json.dumps(v, sort_keys=True) does: ", " and ": " between
// items without indent, non-ASCII characters escaped.
func writeJSON(b *strings.Builder, v *exec.Value, indent, depth int) error {
	if depth > maxDepth {
		return pyErrorf("value is nested too deep for tojson")
	}
	newline := func(d int) {
		if indent >= 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	itemSep := ", "
	if indent >= 0 {
		itemSep = ","
	}
	switch kindOf(v) {
	case kindNone:
		b.WriteString("null")
	case kindBool:
		b.WriteString(map[bool]string{true: "true", false: "false"}[v.Bool()])
	case kindInt:
		b.WriteString(v.String())
	case kindFloat:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			b.WriteString("NaN")
		case math.IsInf(f, 1):
			b.WriteString("Infinity")
		case math.IsInf(f, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(reprFloat(f))
		}
	case kindStr:
		writeJSONString(b, v.String())
	case kindList:
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(itemSep)
			}
			newline(depth + 1)
			if err := writeJSON(b, v.Index(i), indent, depth+1); err != nil {
				return err
			}
		}
		if v.Len() > 0 {
			newline(depth)
		}
		b.WriteByte(']')
	case kindDict:
		pairs := dictItems(v)
		keys := make([]*exec.Value, len(pairs))
		for i, p := range pairs {
			keys[i] = p.Key
		}
		idx, err := sortedOrder(keys, false)
		if err != nil {
			return err
		}
		b.WriteByte('{')
		for i, j := range idx {
			if i > 0 {
				b.WriteString(itemSep)
			}
			newline(depth + 1)
			writeJSONString(b, pyStr(pairs[j].Key))
			b.WriteString(": ")
			if err := writeJSON(b, pairs[j].Value, indent, depth+1); err != nil {
				return err
			}
		}
		if len(idx) > 0 {
			newline(depth)
		}
		b.WriteByte('}')
	default:
		return pyErrorf("Object of type %s is not JSON serializable", typeName(v))
	}
	return nil
}

// writeJSONString writes s as a JSON string with every non-ASCII character escaped.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r >= 0x7f && r < 0x10000:
			fmt.Fprintf(b, `\u%04x`, r)
		case r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// urlQuote is Python's urllib.parse.quote: every byte but letters, digits, "_.-~" and the
// characters of safe percent-encoded.
func urlQuote(s, safe string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.-~"+safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

var (
	// reComment and reTag are what striptags removes, as MarkupSafe's striptags does.
	reComment = regexp.MustCompile(`(?s)<!--.*?-->`)
	reTag     = regexp.MustCompile(`(?s)<.*?>`)
	// reWordBeginning splits words for the title filter, as Jinja2's does.
	reWordBeginning = regexp.MustCompile(`[-\s({\[<]+`)
	// reSpace is a run of whitespace.
	reSpace = regexp.MustCompile(`\s+`)
	// reWord is a word for the wordcount filter, as Jinja2's \w+.
	reWord = regexp.MustCompile(`[\pL\pN_]+`)
)

// wrap wraps one paragraph into lines of at most width characters, as Python's textwrap.wrap
// does for Jinja2's wordwrap: words are kept whole unless longer than a line (and
// breakLong), hyphenated words may break after a hyphen (hyphens), and whitespace at the
// ends of lines is dropped.
func wrap(para string, width int, breakLong, hyphens bool) []string {
	var chunks []string // whitespace runs and words, in reverse order
	for _, c := range splitKeep(reSpace, para) {
		if hyphens && !isSpace(c) {
			chunks = append(chunks, hyphenParts(c)...)
		} else {
			chunks = append(chunks, c)
		}
	}
	slices.Reverse(chunks)
	n := utf8.RuneCountInString
	var lines []string
	for len(chunks) > 0 {
		var line []string
		size := 0
		if isSpace(chunks[len(chunks)-1]) && len(lines) > 0 {
			chunks = chunks[:len(chunks)-1]
		}
		for len(chunks) > 0 && size+n(chunks[len(chunks)-1]) <= width {
			line = append(line, chunks[len(chunks)-1])
			size += n(chunks[len(chunks)-1])
			chunks = chunks[:len(chunks)-1]
		}
		if len(chunks) > 0 && n(chunks[len(chunks)-1]) > width {
			long := []rune(chunks[len(chunks)-1])
			end := width - size
			if width < 1 {
				end = 1
			}
			switch {
			case breakLong:
				if hyphens && len(long) > end {
					if h := strings.LastIndex(string(long[:end]), "-"); h > 0 && strings.Trim(string(long[:end])[:h], "-") != "" {
						end = utf8.RuneCountInString(string(long[:end])[:h]) + 1
					}
				}
				line = append(line, string(long[:end]))
				chunks[len(chunks)-1] = string(long[end:])
			case len(line) == 0:
				line = append(line, string(long))
				chunks = chunks[:len(chunks)-1]
			}
		}
		if len(line) > 0 && isSpace(line[len(line)-1]) {
			line = line[:len(line)-1]
		}
		if len(line) > 0 {
			lines = append(lines, strings.Join(line, ""))
		}
	}
	return lines
}

// hyphenParts splits a word after each hyphen that has two letters before it and a letter
// after it, as textwrap breaks hyphenated words.
func hyphenParts(word string) []string {
	r := []rune(word)
	var parts []string
	start := 0
	for i := 2; i+1 < len(r); i++ {
		if r[i] == '-' && unicode.IsLetter(r[i-1]) && unicode.IsLetter(r[i-2]) && unicode.IsLetter(r[i+1]) {
			parts = append(parts, string(r[start:i+1]))
			start = i + 1
		}
	}
	return append(parts, string(r[start:]))
}

// isSpace reports whether s is whitespace only.
func isSpace(s string) bool {
	return strings.TrimFunc(s, unicode.IsSpace) == ""
}

// splitKeep splits s at the matches of re, keeping the matches as items.
func splitKeep(re *regexp.Regexp, s string) []string {
	var out []string
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		if m[0] > last {
			out = append(out, s[last:m[0]])
		}
		out = append(out, s[m[0]:m[1]])
		last = m[1]
	}
	if last < len(s) {
		out = append(out, s[last:])
	}
	return out
}

// jinja2Tests are the tests written here, replacing gonja's of the same name.
func jinja2Tests(filters *exec.FilterSet, tests *exec.TestSet) map[string]exec.TestFunction {
	return map[string]exec.TestFunction{
		"in": func(_ *exec.Context, in *exec.Value, params *exec.VarArgs) (bool, error) {
			if len(params.Args) != 1 {
				return false, pyErrorf("in takes one argument")
			}
			return contains(params.Args[0], in)
		},
		"odd": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
			if k := kindOf(in); k != kindInt && k != kindBool {
				return false, pyErrorf("odd takes an int, not %s", typeName(in))
			}
			return asInt(in)%2 != 0, nil
		},
		"even": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
			if k := kindOf(in); k != kindInt && k != kindBool {
				return false, pyErrorf("even takes an int, not %s", typeName(in))
			}
			return asInt(in)%2 == 0, nil
		},
		"number": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
			return isNumber(in), nil
		},
		"sequence": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
			k := kindOf(in)
			return k == kindStr || k == kindList || k == kindDict, nil
		},
		"filter": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
			return kindOf(in) == kindStr && !strings.HasPrefix(in.String(), "_") && filters.Exists(in.String()), nil
		},
		"test": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
			return kindOf(in) == kindStr && tests.Exists(in.String()), nil
		},
		"escaped": func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
			return in.Safe, nil
		},
	}
}
