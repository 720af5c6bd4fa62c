package jinja

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// strMethods are the methods of strings, as Python's str has them. gonja's own differ (split
// ignores its limit and cannot split on whitespace, count counts once, replace needs a count,
// find counts bytes, partition returns a list); these follow Python. None of them changes
// anything in place.
var strMethods = map[string]func(s string, args []*exec.Value, kwargs map[string]*exec.Value, maxSize int) (any, error){
	"capitalize": noArgs(capitalize),
	"casefold":   noArgs(func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "ß", "ss")) }),
	"lower":      noArgs(strings.ToLower),
	"upper":      noArgs(upper),
	"swapcase":   noArgs(swapcase),
	"title":      noArgs(pyTitle),
	"center":     padMethod('^'),
	"ljust":      padMethod('<'),
	"rjust":      padMethod('>'),
	"zfill": func(s string, args []*exec.Value, _ map[string]*exec.Value, maxSize int) (any, error) {
		var width int
		if err := takeArgs("zfill", args, intArg(&width)); err != nil {
			return nil, err
		}
		if width > maxSize {
			return nil, pyErrorf("zfill width larger than %d", maxSize)
		}
		n := width - utf8.RuneCountInString(s)
		if n <= 0 {
			return s, nil
		}
		sign := ""
		if s != "" && (s[0] == '-' || s[0] == '+') {
			sign, s = s[:1], s[1:]
		}
		return sign + strings.Repeat("0", n) + s, nil
	},
	"count": func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		var sub string
		if err := takeArgs("count", args, strArg(&sub)); err != nil {
			return nil, err
		}
		if sub == "" {
			return utf8.RuneCountInString(s) + 1, nil
		}
		return strings.Count(s, sub), nil
	},
	"find":  findMethod(false, false),
	"rfind": findMethod(true, false),
	"index": findMethod(false, true),
	"startswith": func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		return affix(s, args, "startswith", strings.HasPrefix)
	},
	"endswith": func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		return affix(s, args, "endswith", strings.HasSuffix)
	},
	"strip":  stripMethod(true, true),
	"lstrip": stripMethod(true, false),
	"rstrip": stripMethod(false, true),
	"split":  splitMethod(false),
	"rsplit": splitMethod(true),
	"splitlines": func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		if err := takeArgs("splitlines", args); err != nil {
			return nil, err
		}
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
		lines := strings.Split(s, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		return strList(lines), nil
	},
	"partition":  partitionMethod(strings.Cut),
	"rpartition": partitionMethod(lastCut),
	"replace": func(s string, args []*exec.Value, _ map[string]*exec.Value, maxSize int) (any, error) {
		var old, repl string
		count := -1
		if err := takeArgs("replace", args, strArg(&old), strArg(&repl), optional(intArg(&count))); err != nil {
			return nil, err
		}
		n := strings.Count(s, old)
		if old == "" {
			n = utf8.RuneCountInString(s) + 1
		}
		if count >= 0 {
			n = min(n, count)
		}
		if len(s)+n*len(repl) > maxSize {
			return nil, pyErrorf("result is larger than %d bytes", maxSize)
		}
		return strings.Replace(s, old, repl, count), nil
	},
	"removeprefix": func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		var p string
		err := takeArgs("removeprefix", args, strArg(&p))
		return strings.TrimPrefix(s, p), err
	},
	"removesuffix": func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		var p string
		err := takeArgs("removesuffix", args, strArg(&p))
		return strings.TrimSuffix(s, p), err
	},
	"join": func(s string, args []*exec.Value, _ map[string]*exec.Value, maxSize int) (any, error) {
		if len(args) != 1 {
			return nil, pyErrorf("join() takes exactly one argument (%d given)", len(args))
		}
		items, err := iterate(args[0])
		if err != nil {
			return nil, err
		}
		parts := make([]string, len(items))
		size := 0
		for i, it := range items {
			if kindOf(it) != kindStr {
				return nil, pyErrorf("sequence item %d: expected str instance, %s found", i, typeName(it))
			}
			parts[i] = it.String()
			if size += len(parts[i]) + len(s); size > maxSize {
				return nil, pyErrorf("result is larger than %d bytes", maxSize)
			}
		}
		return strings.Join(parts, s), nil
	},
	"format": func(s string, args []*exec.Value, kwargs map[string]*exec.Value, maxSize int) (any, error) {
		return strFormat(s, args, kwargs, maxSize)
	},
	"format_map": func(s string, args []*exec.Value, _ map[string]*exec.Value, maxSize int) (any, error) {
		if len(args) != 1 || kindOf(args[0]) != kindDict {
			return nil, pyErrorf("format_map() takes a mapping")
		}
		kwargs := map[string]*exec.Value{}
		for _, p := range dictItems(args[0]) {
			kwargs[pyStr(p.Key)] = p.Value
		}
		return strFormat(s, nil, kwargs, maxSize)
	},
	"expandtabs": func(s string, args []*exec.Value, _ map[string]*exec.Value, maxSize int) (any, error) {
		size := 8
		if err := takeArgs("expandtabs", args, optional(intArg(&size))); err != nil {
			return nil, err
		}
		if size*strings.Count(s, "\t") > maxSize {
			return nil, pyErrorf("result is larger than %d bytes", maxSize)
		}
		var b strings.Builder
		col := 0
		for _, r := range s {
			switch r {
			case '\t':
				if size > 0 {
					n := size - col%size
					b.WriteString(strings.Repeat(" ", n))
					col += n
				}
			case '\n', '\r':
				b.WriteRune(r)
				col = 0
			default:
				b.WriteRune(r)
				col++
			}
		}
		return b.String(), nil
	},
	"isalnum":   isClass(func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }),
	"isalpha":   isClass(unicode.IsLetter),
	"isascii":   func(s string, _ []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) { return isASCII(s), nil },
	"isdecimal": isClass(unicode.IsDigit),
	"isdigit":   isClass(unicode.IsDigit),
	"isnumeric": isClass(unicode.IsNumber),
	"isspace":   isClass(unicode.IsSpace),
	"isprintable": func(s string, _ []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0, nil
	},
	"islower": caseTest(unicode.IsLower, unicode.IsUpper),
	"isupper": caseTest(unicode.IsUpper, unicode.IsLower),
	"istitle": func(s string, _ []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		cased := false
		return s == pyTitle(s) && strings.IndexFunc(s, func(r rune) bool {
			cased = cased || unicode.IsUpper(r) || unicode.IsLower(r)
			return false
		}) < 0 && cased, nil
	},
}

// noArgs makes a method of f, which takes no arguments.
func noArgs(f func(string) string) func(string, []*exec.Value, map[string]*exec.Value, int) (any, error) {
	return func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		if len(args) > 0 {
			return nil, pyErrorf("takes no arguments (%d given)", len(args))
		}
		return f(s), nil
	}
}

// upper upper-cases s as Python does: ß becomes SS.
func upper(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "ß", "SS"))
}

// capitalize returns s with its first character upper-cased and the rest lower-cased.
func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return string(unicode.ToTitle(r)) + strings.ToLower(s[size:])
}

// swapcase swaps the case of every letter of s.
func swapcase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsUpper(r):
			return unicode.ToLower(r)
		case unicode.IsLower(r):
			return unicode.ToUpper(r)
		}
		return r
	}, s)
}

// pyTitle is Python's str.title: the first letter of every run of letters upper-cased, the
// others lower-cased.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, r := range s {
		cased := unicode.IsLetter(r)
		switch {
		case cased && !prevCased:
			b.WriteRune(unicode.ToTitle(r))
		case cased:
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
		prevCased = cased
	}
	return b.String()
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isClass makes a method that reports whether s is not empty and every character of it is in
// a class.
func isClass(in func(rune) bool) func(string, []*exec.Value, map[string]*exec.Value, int) (any, error) {
	return func(s string, _ []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		return s != "" && strings.IndexFunc(s, func(r rune) bool { return !in(r) }) < 0, nil
	}
}

// caseTest makes islower or isupper: s has a letter of the case and none of the other.
func caseTest(is, other func(rune) bool) func(string, []*exec.Value, map[string]*exec.Value, int) (any, error) {
	return func(s string, _ []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		return strings.IndexFunc(s, is) >= 0 && strings.IndexFunc(s, other) < 0, nil
	}
}

// padMethod makes center, ljust or rjust.
func padMethod(align byte) func(string, []*exec.Value, map[string]*exec.Value, int) (any, error) {
	return func(s string, args []*exec.Value, _ map[string]*exec.Value, maxSize int) (any, error) {
		var width int
		fill := " "
		if err := takeArgs("pad", args, intArg(&width), optional(strArg(&fill))); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(fill) != 1 {
			return nil, pyErrorf("The fill character must be exactly one character long")
		}
		if width > maxSize {
			return nil, pyErrorf("width larger than %d", maxSize)
		}
		r, _ := utf8.DecodeRuneInString(fill)
		if n := width - utf8.RuneCountInString(s); align == '^' && n > 0 {
			// Python's center puts the odd fill character on the left when the width is odd.
			left := n/2 + n&width&1
			return strings.Repeat(fill, left) + s + strings.Repeat(fill, n-left), nil
		}
		return pad(s, spec{fill: r, align: align, width: width}), nil
	}
}

// findMethod makes find, rfind and index (which fails where find returns -1). Positions
// count characters, not bytes.
func findMethod(last, mustFind bool) func(string, []*exec.Value, map[string]*exec.Value, int) (any, error) {
	return func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		var sub string
		if err := takeArgs("find", args, strArg(&sub)); err != nil {
			return nil, err
		}
		i := strings.Index(s, sub)
		if last {
			i = strings.LastIndex(s, sub)
		}
		if i < 0 {
			if mustFind {
				return nil, pyErrorf("substring not found")
			}
			return -1, nil
		}
		return utf8.RuneCountInString(s[:i]), nil
	}
}

// affix runs startswith or endswith, whose argument may be a string or a tuple of them.
func affix(s string, args []*exec.Value, name string, has func(string, string) bool) (any, error) {
	if len(args) != 1 {
		return nil, pyErrorf("%s() takes exactly one argument (%d given)", name, len(args))
	}
	if kindOf(args[0]) == kindStr {
		return has(s, args[0].String()), nil
	}
	items, err := iterate(args[0])
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if has(s, pyStr(it)) {
			return true, nil
		}
	}
	return false, nil
}

// stripMethod makes strip, lstrip and rstrip: without an argument they strip whitespace,
// with one the characters in it.
func stripMethod(left, right bool) func(string, []*exec.Value, map[string]*exec.Value, int) (any, error) {
	return func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		var chars *string
		if len(args) > 1 {
			return nil, pyErrorf("strip() takes at most 1 argument (%d given)", len(args))
		}
		if len(args) == 1 && !args[0].IsNil() {
			c := pyStr(args[0])
			chars = &c
		}
		cut := unicode.IsSpace
		if chars != nil {
			cut = func(r rune) bool { return strings.ContainsRune(*chars, r) }
		}
		if left {
			s = strings.TrimLeftFunc(s, cut)
		}
		if right {
			s = strings.TrimRightFunc(s, cut)
		}
		return s, nil
	}
}

// splitMethod makes split and rsplit: on runs of whitespace without a separator, on each
// separator with one, at most maxsplit times.
func splitMethod(fromRight bool) func(string, []*exec.Value, map[string]*exec.Value, int) (any, error) {
	return func(s string, args []*exec.Value, kwargs map[string]*exec.Value, _ int) (any, error) {
		var sep *string
		limit := -1
		if v, ok := kwargs["sep"]; ok {
			args = append([]*exec.Value{v}, args...)
		}
		if v, ok := kwargs["maxsplit"]; ok {
			args = append(args[:min(len(args), 1)], v)
		}
		if len(args) > 0 && !args[0].IsNil() {
			if kindOf(args[0]) != kindStr {
				return nil, pyErrorf("must be str or None, not %s", typeName(args[0]))
			}
			s := args[0].String()
			if s == "" {
				return nil, pyErrorf("empty separator")
			}
			sep = &s
		}
		if len(args) > 1 {
			if kindOf(args[1]) != kindInt {
				return nil, pyErrorf("'%s' object cannot be interpreted as an integer", typeName(args[1]))
			}
			limit = args[1].Integer()
		}
		if len(args) > 2 {
			return nil, pyErrorf("split() takes at most 2 arguments (%d given)", len(args))
		}
		if sep != nil {
			if limit < 0 {
				return strList(strings.Split(s, *sep)), nil
			}
			if !fromRight {
				return strList(strings.SplitN(s, *sep, limit+1)), nil
			}
			var out []string
			for ; limit > 0; limit-- {
				i := strings.LastIndex(s, *sep)
				if i < 0 {
					break
				}
				out = append(out, s[i+len(*sep):])
				s = s[:i]
			}
			out = append(out, s)
			reverseStrings(out)
			return strList(out), nil
		}
		fields := strings.Fields(s)
		if limit < 0 || limit >= len(fields) {
			return strList(fields), nil
		}
		// At most limit splits on whitespace: the rest keeps its inner spacing.
		if !fromRight {
			rest := s
			var out []string
			for range limit {
				rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
				i := strings.IndexFunc(rest, unicode.IsSpace)
				out = append(out, rest[:i])
				rest = rest[i:]
			}
			return strList(append(out, strings.TrimLeftFunc(rest, unicode.IsSpace))), nil
		}
		rest := s
		var out []string
		for range limit {
			rest = strings.TrimRightFunc(rest, unicode.IsSpace)
			i := strings.LastIndexFunc(rest, unicode.IsSpace)
			out = append(out, rest[i+1:])
			rest = rest[:i+1]
		}
		out = append(out, strings.TrimRightFunc(rest, unicode.IsSpace))
		reverseStrings(out)
		return strList(out), nil
	}
}

// reverseStrings reverses s in place.
func reverseStrings(s []string) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// lastCut is strings.Cut at the last sep.
func lastCut(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+len(sep):], true
}

// partitionMethod makes partition and rpartition, which return a tuple.
func partitionMethod(cut func(s, sep string) (string, string, bool)) func(string, []*exec.Value, map[string]*exec.Value, int) (any, error) {
	return func(s string, args []*exec.Value, _ map[string]*exec.Value, _ int) (any, error) {
		var sep string
		if err := takeArgs("partition", args, strArg(&sep)); err != nil {
			return nil, err
		}
		if sep == "" {
			return nil, pyErrorf("empty separator")
		}
		before, after, found := cut(s, sep)
		if !found {
			return tuple{before, "", after}, nil
		}
		return tuple{before, sep, after}, nil
	}
}

// strList returns a list of strings as a template list.
func strList(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// argTaker takes one positional argument; optional ones report whether they were given.
type argTaker struct {
	take     func(v *exec.Value) error
	optional bool
}

func strArg(p *string) argTaker {
	return argTaker{take: func(v *exec.Value) error {
		if kindOf(v) != kindStr {
			return pyErrorf("must be str, not %s", typeName(v))
		}
		*p = v.String()
		return nil
	}}
}

func intArg(p *int) argTaker {
	return argTaker{take: func(v *exec.Value) error {
		k := kindOf(v)
		if k != kindInt && k != kindBool {
			return pyErrorf("'%s' object cannot be interpreted as an integer", typeName(v))
		}
		*p = asInt(v)
		return nil
	}}
}

func optional(a argTaker) argTaker {
	a.optional = true
	return a
}

// takeArgs assigns args to takers, in order.
func takeArgs(name string, args []*exec.Value, takers ...argTaker) error {
	required := 0
	for _, t := range takers {
		if !t.optional {
			required++
		}
	}
	if len(args) < required || len(args) > len(takers) {
		return pyErrorf("%s() takes %d to %d arguments (%d given)", name, required, len(takers), len(args))
	}
	for i, a := range args {
		if err := takers[i].take(a); err != nil {
			return err
		}
	}
	return nil
}
