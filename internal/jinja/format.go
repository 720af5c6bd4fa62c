package jinja

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Python's two ways of formatting strings: format % args (printf) and str.format (format),
// with the format specification mini-language both share here (spec).

// spec is a parsed format specification: [[fill]align][sign][#][0][width][,][.precision][type].
type spec struct {
	fill     rune
	align    byte // '<', '>', '^', '=' or 0 for the type's default
	sign     byte // '+', '-', ' ' or 0
	alt      bool // '#': 0x, 0o and 0b prefixes
	width    int
	grouping byte // ',' or '_' between thousands, or 0
	prec     int  // -1 when not given
	typ      byte // 0 when not given
}

// printf returns format % args as Python computes it. args are the format's arguments when
// a tuple, a mapping for %(key)s when a dict, and the one argument otherwise.
func printf(format string, args *exec.Value, maxSize int) (string, error) {
	list := []*exec.Value{args}
	_, isTuple := args.Interface().(tuple)
	if isTuple {
		list = list[:0]
		for i := range args.Len() {
			list = append(list, args.Index(i))
		}
	}
	mapping := !isTuple && kindOf(args) == kindDict
	next := 0
	var b strings.Builder
	for i := 0; i < len(format); {
		j := strings.IndexByte(format[i:], '%')
		if j < 0 {
			b.WriteString(format[i:])
			break
		}
		b.WriteString(format[i : i+j])
		i += j + 1
		var arg *exec.Value
		if i < len(format) && format[i] == '(' {
			end := strings.IndexByte(format[i:], ')')
			if end < 0 {
				return "", pyErrorf("incomplete format key")
			}
			if !mapping {
				return "", pyErrorf("format requires a mapping")
			}
			key := format[i+1 : i+end]
			v, ok := args.GetItem(key)
			if !ok {
				return "", pyErrorf("KeyError: %s", reprString(key))
			}
			arg, i = v, i+end+1
		}
		take := func() (*exec.Value, error) {
			if next >= len(list) {
				return nil, pyErrorf("not enough arguments for format string")
			}
			next++
			return list[next-1], nil
		}
		sp := spec{fill: ' ', prec: -1}
		zero, left := false, false
		for ; i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0; i++ {
			switch format[i] {
			case '-':
				left = true
			case '+':
				sp.sign = '+'
			case ' ':
				if sp.sign != '+' {
					sp.sign = ' '
				}
			case '#':
				sp.alt = true
			case '0':
				zero = true
			}
		}
		number := func(n *int) error {
			if i < len(format) && format[i] == '*' {
				i++
				v, err := take()
				if err != nil {
					return err
				}
				if kindOf(v) != kindInt {
					return pyErrorf("* wants int")
				}
				*n = v.Integer()
				return nil
			}
			start := i
			for i < len(format) && '0' <= format[i] && format[i] <= '9' {
				i++
			}
			if i > start {
				v, err := strconv.Atoi(format[start:i])
				if err != nil || v > maxSize {
					return fmt.Errorf("format width or precision larger than %d", maxSize)
				}
				*n = v
			}
			return nil
		}
		if err := number(&sp.width); err != nil {
			return "", err
		}
		if sp.width < 0 {
			left, sp.width = true, -sp.width
		}
		if i < len(format) && format[i] == '.' {
			i++
			sp.prec = 0
			if err := number(&sp.prec); err != nil {
				return "", err
			}
		}
		if sp.width > maxSize || sp.prec > maxSize {
			return "", fmt.Errorf("format width or precision larger than %d", maxSize)
		}
		for i < len(format) && strings.IndexByte("hlL", format[i]) >= 0 {
			i++
		}
		if i >= len(format) {
			return "", pyErrorf("incomplete format")
		}
		sp.typ = format[i]
		i++
		if sp.typ == '%' {
			b.WriteByte('%')
			continue
		}
		if arg == nil {
			v, err := take()
			if err != nil {
				return "", err
			}
			arg = v
		}
		switch {
		case left:
			sp.align = '<'
		case zero && strings.IndexByte("diuoxXeEfFgG", sp.typ) >= 0:
			sp.fill, sp.align = '0', '='
		default:
			sp.align = '>'
		}
		s, err := printfConvert(arg, sp)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	if !mapping && next < len(list) {
		return "", pyErrorf("not all arguments converted during string formatting")
	}
	return b.String(), nil
}

// printfConvert formats one argument of printf.
func printfConvert(v *exec.Value, sp spec) (string, error) {
	k := kindOf(v)
	switch sp.typ {
	case 's', 'r', 'a':
		s := pyStr(v)
		if sp.typ == 'r' {
			s = pyRepr(v)
		} else if sp.typ == 'a' {
			s = asciiRepr(v)
		}
		if sp.prec >= 0 {
			s = truncateRunes(s, sp.prec)
		}
		return pad(s, sp), nil
	case 'c':
		switch {
		case k == kindInt:
			return pad(string(rune(v.Integer())), sp), nil
		case k == kindStr && utf8.RuneCountInString(v.String()) == 1:
			return pad(v.String(), sp), nil
		}
		return "", pyErrorf("%%c requires int or char")
	case 'd', 'i', 'u':
		if !isNumber(v) {
			return "", pyErrorf("%%%c format: a real number is required, not %s", sp.typ, typeName(v))
		}
		n := int(asFloat(v))
		if k != kindFloat {
			n = asInt(v)
		}
		sp.typ = 'd'
		return formatInt(n, sp), nil
	case 'o', 'x', 'X':
		if k != kindInt && k != kindBool {
			return "", pyErrorf("%%%c format: an integer is required, not %s", sp.typ, typeName(v))
		}
		return formatInt(asInt(v), sp), nil
	case 'e', 'E', 'f', 'F', 'g', 'G':
		if !isNumber(v) {
			return "", pyErrorf("must be real number, not %s", typeName(v))
		}
		if sp.prec < 0 {
			sp.prec = 6
		}
		return formatFloat(asFloat(v), sp), nil
	}
	return "", pyErrorf("unsupported format character '%c'", sp.typ)
}

// strFormat returns format.format(*args, **kwargs) as Python computes it.
func strFormat(format string, args []*exec.Value, kwargs map[string]*exec.Value, maxSize int) (string, error) {
	auto := 0 // the next automatic field number, or -1 once fields are numbered
	var b strings.Builder
	for i := 0; i < len(format); {
		c := format[i]
		switch {
		case c == '{' && strings.HasPrefix(format[i:], "{{"), c == '}' && strings.HasPrefix(format[i:], "}}"):
			b.WriteByte(c)
			i += 2
			continue
		case c == '}':
			return "", pyErrorf("Single '}' encountered in format string")
		case c != '{':
			b.WriteByte(c)
			i++
			continue
		}
		end, depth := i+1, 1
		for ; end < len(format) && depth > 0; end++ {
			switch format[end] {
			case '{':
				depth++
			case '}':
				depth--
			}
		}
		if depth > 0 {
			return "", pyErrorf("expected '}' before end of string")
		}
		field := format[i+1 : end-1]
		i = end
		name, specText, _ := strings.Cut(field, ":")
		name, conv, hasConv := strings.Cut(name, "!")
		if strings.Contains(specText, "{") {
			expanded, err := strFormat(specText, args, kwargs, maxSize)
			if err != nil {
				return "", err
			}
			specText = expanded
		}
		v, err := formatField(name, args, kwargs, &auto)
		if err != nil {
			return "", err
		}
		if hasConv {
			switch conv {
			case "r":
				v = exec.AsValue(pyRepr(v))
			case "s":
				v = exec.AsValue(pyStr(v))
			case "a":
				v = exec.AsValue(asciiRepr(v))
			default:
				return "", pyErrorf("Unknown conversion specifier %s", conv)
			}
		}
		s, err := formatValue(v, specText, maxSize)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// formatField returns the value a replacement field of str.format names: an argument by
// number (or the next one when the name is empty) or keyword, then .attribute and [key]
// lookups.
func formatField(name string, args []*exec.Value, kwargs map[string]*exec.Value, auto *int) (*exec.Value, error) {
	first := name
	if i := strings.IndexAny(name, ".["); i >= 0 {
		first, name = name[:i], name[i:]
	} else {
		name = ""
	}
	var v *exec.Value
	index, err := strconv.Atoi(first)
	switch {
	case first == "":
		if *auto < 0 {
			return nil, pyErrorf("cannot switch from manual field specification to automatic field numbering")
		}
		index = *auto
		*auto++
		fallthrough
	case err == nil:
		if first != "" {
			if *auto > 0 {
				return nil, pyErrorf("cannot switch from automatic field numbering to manual field specification")
			}
			*auto = -1
		}
		if index >= len(args) {
			return nil, pyErrorf("Replacement index %d out of range for positional args tuple", index)
		}
		v = args[index]
	default:
		var ok bool
		if v, ok = kwargs[first]; !ok {
			return nil, pyErrorf("KeyError: %s", reprString(first))
		}
	}
	for name != "" {
		var key string
		if name[0] == '.' {
			end := strings.IndexAny(name[1:], ".[")
			if end < 0 {
				end = len(name) - 1
			}
			key, name = name[1:end+1], name[end+1:]
			attr, ok := v.GetAttribute(key)
			if !ok {
				return nil, pyErrorf("'%s' object has no attribute %s", typeName(v), reprString(key))
			}
			v = attr
			continue
		}
		end := strings.IndexByte(name, ']')
		if end < 0 {
			return nil, pyErrorf("Missing ']' in format string")
		}
		key, name = name[1:end], name[end+1:]
		var item *exec.Value
		var ok bool
		if n, err := strconv.Atoi(key); err == nil && kindOf(v) == kindList {
			item, ok = v.GetItem(n)
		} else {
			item, ok = v.GetItem(key)
		}
		if !ok {
			return nil, pyErrorf("KeyError: %s", reprString(key))
		}
		v = item
	}
	return v, nil
}

// formatValue returns format(v, specText) as Python computes it.
func formatValue(v *exec.Value, specText string, maxSize int) (string, error) {
	k := kindOf(v)
	if specText == "" {
		return pyStr(v), nil
	}
	sp, err := parseSpec(specText, maxSize)
	if err != nil {
		return "", err
	}
	unknown := func() error {
		return pyErrorf("Unknown format code '%c' for object of type '%s'", sp.typ, typeName(v))
	}
	switch k {
	case kindStr:
		if sp.typ != 0 && sp.typ != 's' {
			return "", unknown()
		}
		s := v.String()
		if sp.prec >= 0 {
			s = truncateRunes(s, sp.prec)
		}
		if sp.align == 0 {
			sp.align = '<'
		}
		return pad(s, sp), nil
	case kindInt, kindBool:
		switch sp.typ {
		case 0, 'd', 'n', 'b', 'o', 'x', 'X', 'c':
			if sp.typ == 'c' {
				sp.typ = 0
				return pad(string(rune(asInt(v))), sp), nil
			}
			return formatInt(asInt(v), sp), nil
		case 'e', 'E', 'f', 'F', 'g', 'G', '%':
			return formatFloat(asFloat(v), sp), nil
		}
		return "", unknown()
	case kindFloat:
		switch sp.typ {
		case 0, 'e', 'E', 'f', 'F', 'g', 'G', 'n', '%':
			return formatFloat(v.Float(), sp), nil
		}
		return "", unknown()
	}
	return "", pyErrorf("unsupported format string passed to %s.__format__", typeName(v))
}

// parseSpec parses a format specification of str.format.
func parseSpec(s string, maxSize int) (spec, error) {
	sp := spec{fill: ' ', prec: -1}
	bad := pyErrorf("Invalid format specifier '%s'", s)
	if r, size := utf8.DecodeRuneInString(s); len(s) > size && strings.IndexByte("<>=^", s[size]) >= 0 {
		sp.fill, sp.align, s = r, s[size], s[size+1:]
	} else if s != "" && strings.IndexByte("<>=^", s[0]) >= 0 {
		sp.align, s = s[0], s[1:]
	}
	if s != "" && strings.IndexByte("+- ", s[0]) >= 0 {
		sp.sign, s = s[0], s[1:]
	}
	if s != "" && s[0] == '#' {
		sp.alt, s = true, s[1:]
	}
	if s != "" && s[0] == '0' {
		if sp.align == 0 {
			sp.fill, sp.align = '0', '='
		}
		s = s[1:]
	}
	digits := func() (int, bool, error) {
		n := 0
		for n < len(s) && '0' <= s[n] && s[n] <= '9' {
			n++
		}
		if n == 0 {
			return 0, false, nil
		}
		v, err := strconv.Atoi(s[:n])
		if err != nil || v > maxSize {
			return 0, false, fmt.Errorf("format width or precision larger than %d", maxSize)
		}
		s = s[n:]
		return v, true, nil
	}
	var err error
	if sp.width, _, err = digits(); err != nil {
		return sp, err
	}
	if s != "" && (s[0] == ',' || s[0] == '_') {
		sp.grouping, s = s[0], s[1:]
	}
	if s != "" && s[0] == '.' {
		s = s[1:]
		p, ok, err := digits()
		if err != nil {
			return sp, err
		}
		if !ok {
			return sp, pyErrorf("Format specifier missing precision")
		}
		sp.prec = p
	}
	switch len(s) {
	case 0:
	case 1:
		sp.typ = s[0]
	default:
		return sp, bad
	}
	return sp, nil
}

// formatInt formats n with the integer types of sp: d (or none), b, o, x, X.
func formatInt(n int, sp spec) string {
	neg := n < 0
	u := uint64(n)
	if neg {
		u = -u
	}
	base, prefix, group := 10, "", 3
	switch sp.typ {
	case 'b':
		base, prefix, group = 2, "0b", 4
	case 'o':
		base, prefix, group = 8, "0o", 4
	case 'x':
		base, prefix, group = 16, "0x", 4
	case 'X':
		base, prefix, group = 16, "0X", 4
	}
	digits := strconv.FormatUint(u, base)
	if sp.typ == 'X' {
		digits = strings.ToUpper(digits)
	}
	if sp.prec > 0 && len(digits) < sp.prec { // printf's %.3d
		digits = strings.Repeat("0", sp.prec-len(digits)) + digits
	}
	if sp.grouping != 0 {
		digits = groupDigits(digits, sp.grouping, group)
	}
	if !sp.alt {
		prefix = ""
	}
	return padNumber(neg, prefix, digits, sp)
}

// formatFloat formats f with the float types of sp: e, E, f, F, g, G, n, % or none.
func formatFloat(f float64, sp spec) string {
	neg := math.Signbit(f) && !math.IsNaN(f)
	f = math.Abs(f)
	var body string
	switch {
	case math.IsNaN(f), math.IsInf(f, 0):
		body = "nan"
		if math.IsInf(f, 0) {
			body = "inf"
		}
		if sp.typ == '%' {
			body += "%"
		}
		if strings.IndexByte("EFG", sp.typ) >= 0 {
			body = strings.ToUpper(body)
		}
		return padNumber(neg, "", body, sp)
	case sp.typ == 0 && sp.prec < 0:
		body = reprFloat(f)
	case sp.typ == 0 || sp.typ == 'g' || sp.typ == 'G' || sp.typ == 'n':
		p := sp.prec
		if p < 0 {
			p = 6
		}
		body = strconv.FormatFloat(f, 'g', max(p, 1), 64)
		if sp.typ == 0 && !strings.ContainsAny(body, ".e") {
			body += ".0"
		}
		if sp.typ == 'G' {
			body = strings.ToUpper(body)
		}
	case sp.typ == 'e' || sp.typ == 'E':
		p := sp.prec
		if p < 0 {
			p = 6
		}
		body = strconv.FormatFloat(f, 'e', p, 64)
		if sp.typ == 'E' {
			body = strings.ToUpper(body)
		}
	case sp.typ == '%':
		p := sp.prec
		if p < 0 {
			p = 6
		}
		body = strconv.FormatFloat(f*100, 'f', p, 64)
	default: // f, F
		p := sp.prec
		if p < 0 {
			p = 6
		}
		body = strconv.FormatFloat(f, 'f', p, 64)
	}
	if sp.grouping != 0 {
		intPart, rest := body, ""
		if i := strings.IndexAny(body, ".e"); i >= 0 {
			intPart, rest = body[:i], body[i:]
		}
		body = groupDigits(intPart, sp.grouping, 3) + rest
	}
	if sp.typ == '%' {
		body += "%"
	}
	return padNumber(neg, "", body, sp)
}

// groupDigits puts sep between each group of n digits of digits, from the right.
func groupDigits(digits string, sep byte, n int) string {
	var b strings.Builder
	for i, c := range []byte(digits) {
		if i > 0 && (len(digits)-i)%n == 0 {
			b.WriteByte(sep)
		}
		b.WriteByte(c)
	}
	return b.String()
}

// padNumber assembles a formatted number from its sign, prefix and digits, padded to sp's
// width: after the sign and prefix with '=' alignment, around all of it otherwise.
func padNumber(neg bool, prefix, digits string, sp spec) string {
	sign := ""
	switch {
	case neg:
		sign = "-"
	case sp.sign == '+' || sp.sign == ' ':
		sign = string(sp.sign)
	}
	if sp.align == '=' {
		n := sp.width - len(sign) - len(prefix) - utf8.RuneCountInString(digits)
		if n > 0 {
			digits = strings.Repeat(string(sp.fill), n) + digits
		}
		return sign + prefix + digits
	}
	if sp.align == 0 {
		sp.align = '>'
	}
	return pad(sign+prefix+digits, sp)
}

// pad pads s with sp's fill to sp's width, as sp's alignment says.
func pad(s string, sp spec) string {
	n := sp.width - utf8.RuneCountInString(s)
	if n <= 0 {
		return s
	}
	fill := string(sp.fill)
	switch sp.align {
	case '<':
		return s + strings.Repeat(fill, n)
	case '^':
		return strings.Repeat(fill, n/2) + s + strings.Repeat(fill, n-n/2)
	}
	return strings.Repeat(fill, n) + s
}

// truncateRunes returns the first n characters of s.
func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// asciiRepr is Python's ascii(v): repr with every non-ASCII character escaped.
func asciiRepr(v *exec.Value) string {
	var b strings.Builder
	for _, r := range pyRepr(v) {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}
