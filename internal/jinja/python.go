package jinja

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Python's view of template values. gonja formats, compares and computes values its own way
// where Jinja2 uses Python's: 2 ** 3 is 8.0, '%d' % n is 0, None prints as nothing. The
// functions here give Python's results; the sandbox routes printing, the operators, and the
// filters, tests and methods that differ through them (see tree.go and compat.go).

// pyError is an error a template causes, as Python would raise it: the rendering fails with
// its message.
type pyError struct{ msg string }

func (e *pyError) Error() string { return e.msg }

// pyErrorf returns a *pyError.
func pyErrorf(format string, args ...any) error { return &pyError{fmt.Sprintf(format, args...)} }

// errValue returns err as a template value.
func errValue(err error) *exec.Value { return exec.AsValue(err) }

// pyKind is the Python type of a template value.
type pyKind int

const (
	kindNone pyKind = iota
	kindBool
	kindInt
	kindFloat
	kindStr
	kindList
	kindDict
	kindOther
)

// kindOf returns v's Python type.
func kindOf(v *exec.Value) pyKind {
	switch {
	case v == nil || v.IsNil():
		return kindNone
	case v.IsBool():
		return kindBool
	case v.IsInteger():
		return kindInt
	case v.IsFloat():
		return kindFloat
	case v.IsString():
		return kindStr
	case v.IsList():
		return kindList
	case v.IsDict():
		return kindDict
	}
	return kindOther
}

// typeName is the name Python gives v's type, for error messages.
func typeName(v *exec.Value) string {
	if _, ok := v.Interface().(tuple); ok {
		return "tuple"
	}
	return [...]string{"NoneType", "bool", "int", "float", "str", "list", "dict", "object"}[kindOf(v)]
}

// isNumber reports whether v is a Python number: an int, a float or a bool.
func isNumber(v *exec.Value) bool {
	k := kindOf(v)
	return k == kindBool || k == kindInt || k == kindFloat
}

// asInt returns v, an int or a bool, as an int.
func asInt(v *exec.Value) int {
	if v.IsBool() {
		if v.Bool() {
			return 1
		}
		return 0
	}
	return v.Integer()
}

// asFloat returns v, a number, as a float.
func asFloat(v *exec.Value) float64 {
	if v.IsBool() {
		return float64(asInt(v))
	}
	return v.Float()
}

// text returns str(v), except that None is empty when missing variables are (the sandbox
// cannot tell them apart then).
func text(v *exec.Value, missingAsEmpty bool) string {
	if missingAsEmpty && v.IsNil() {
		return ""
	}
	return pyStr(v)
}

// pyStr returns str(v): a string itself, anything else as repr.
func pyStr(v *exec.Value) string {
	if kindOf(v) == kindStr {
		return v.String()
	}
	return pyRepr(v)
}

// pyRepr returns repr(v): strings quoted, lists and dicts with their items' reprs, floats
// with the fewest digits that read back to the same float.
func pyRepr(v *exec.Value) string {
	switch kindOf(v) {
	case kindNone:
		return "None"
	case kindBool:
		if v.Bool() {
			return "True"
		}
		return "False"
	case kindInt:
		return v.String()
	case kindFloat:
		return reprFloat(v.Float())
	case kindStr:
		return reprString(v.String())
	case kindList:
		open, end := "[", "]"
		if _, ok := v.Interface().(tuple); ok {
			open, end = "(", ")"
			if v.Len() == 1 {
				end = ",)"
			}
		}
		var b strings.Builder
		b.WriteString(open)
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(v.Index(i)))
		}
		b.WriteString(end)
		return b.String()
	case kindDict:
		var b strings.Builder
		b.WriteByte('{')
		for i, p := range dictItems(v) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(p.Key))
			b.WriteString(": ")
			b.WriteString(pyRepr(p.Value))
		}
		b.WriteByte('}')
		return b.String()
	}
	if v.IsError() {
		return v.Error()
	}
	return v.String()
}

// printValue returns v as a template prints it: str(v), except that None prints as nothing
// when missing variables do (the sandbox cannot tell them apart then).
func printValue(v *exec.Value, missingAsEmpty bool, maxSize int) *exec.Value {
	switch {
	case v.IsError(), v.IsString():
		return v
	case measure(v, maxSize) > maxSize:
		return errValue(fmt.Errorf("value is larger than %d bytes", maxSize))
	}
	return &exec.Value{Val: reflect.ValueOf(text(v, missingAsEmpty)), Safe: v.Safe}
}

// dictItems returns the items of a dict in the order templates iterate it: a dict a
// template built in its order, a Go map by key (Go maps have no order).
func dictItems(v *exec.Value) []*exec.Pair {
	if d, ok := v.Interface().(*exec.Dict); ok {
		return d.Pairs
	}
	if d, ok := v.Interface().(exec.Dict); ok {
		return d.Pairs
	}
	keys := v.Keys()
	out := make([]*exec.Pair, len(keys))
	for i, k := range keys {
		item, _ := v.GetItem(k.Interface())
		out[i] = &exec.Pair{Key: k, Value: item}
	}
	return out
}

// reprFloat formats f as Python's repr does: the shortest digits that read back to f, in
// fixed notation with at least one decimal for exponents from -4 to 15, in scientific
// notation (1e+16, 1.5e-07) otherwise.
func reprFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mantissa, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	if x < -4 || x >= 16 {
		return mantissa + "e" + exp[:1] + fmt.Sprintf("%02d", abs(x))
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// reprString quotes s as Python's repr does.
func reprString(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError || r < 0x100 && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// binop applies the Python operator op to a and b. Strings and lists that + or * would grow
// past maxSize are refused; ~ joins the operands' text (see text).
func binop(e *exec.Evaluator, op string, a, b *exec.Value, maxSize int, missingAsEmpty bool) *exec.Value {
	switch op {
	case "~":
		s1, s2 := text(a, missingAsEmpty), text(b, missingAsEmpty)
		if err := chargeOperands(e, len(s1), len(s2), maxSize); err != nil {
			return errValue(err)
		}
		return exec.AsValue(s1 + s2)
	case "==":
		return exec.AsValue(pyEqual(a, b))
	case "!=":
		return exec.AsValue(!pyEqual(a, b))
	case "<", "<=", ">", ">=":
		c, err := compare(a, b, op)
		if err != nil {
			return errValue(err)
		}
		return exec.AsValue(c)
	case "%":
		if kindOf(a) == kindStr {
			s, err := printf(a.String(), b, maxSize)
			if err != nil {
				return errValue(err)
			}
			return exec.AsValue(s)
		}
	case "+":
		ka, kb := kindOf(a), kindOf(b)
		switch {
		case ka == kindStr && kb == kindStr:
			if err := chargeOperands(e, len(a.String()), len(b.String()), maxSize); err != nil {
				return errValue(err)
			}
			return exec.AsValue(a.String() + b.String())
		case ka == kindList && kb == kindList:
			if err := chargeOperands(e, measure(a, maxSize), measure(b, maxSize), maxSize); err != nil {
				return errValue(err)
			}
			out := make([]any, 0, a.Len()+b.Len())
			for _, l := range []*exec.Value{a, b} {
				for i := range l.Len() {
					out = append(out, l.Index(i).Interface())
				}
			}
			return exec.AsValue(out)
		}
	case "*":
		if v, ok := repeat(a, b, maxSize); ok {
			return v
		}
		if v, ok := repeat(b, a, maxSize); ok {
			return v
		}
	}
	if !isNumber(a) || !isNumber(b) {
		return errValue(pyErrorf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(a), typeName(b)))
	}
	if (a.IsFloat() || b.IsFloat()) || op == "/" || op == "**" && asInt(b) < 0 {
		return floatOp(op, asFloat(a), asFloat(b))
	}
	return intOp(op, asInt(a), asInt(b))
}

// unary applies + (sign 1) or - (sign -1) to v, a number, as Python does: True is 1.
func unary(v *exec.Value, sign int) *exec.Value {
	switch kindOf(v) {
	case kindInt, kindBool:
		if n := asInt(v); sign > 0 || n != math.MinInt {
			return exec.AsValue(sign * n)
		}
		return errValue(pyErrorf("integer result of - is larger than 64 bits"))
	case kindFloat:
		return exec.AsValue(float64(sign) * v.Float())
	}
	if v.IsError() {
		return v
	}
	return errValue(pyErrorf("bad operand type for unary %s: '%s'", map[int]string{1: "+", -1: "-"}[sign], typeName(v)))
}

// chargeOperands refuses operands of + or ~ larger than half of maxSize, and charges their
// sizes to the rendering's budget.
func chargeOperands(e *exec.Evaluator, n1, n2, maxSize int) error {
	if max(n1, n2) > maxSize/2 {
		return fmt.Errorf("operand of + or ~ is larger than %d bytes", maxSize/2)
	}
	return charge(e, n1+n2, false)
}

// repeat returns seq * count for a string or list seq and an int count, and whether they are
// those. A negative count gives an empty string or list, as in Python.
func repeat(seq, count *exec.Value, maxSize int) (*exec.Value, bool) {
	k := kindOf(count)
	if k != kindInt && k != kindBool {
		return nil, false
	}
	n := max(asInt(count), 0)
	switch kindOf(seq) {
	case kindStr:
		s := seq.String()
		if len(s) > 0 && n > maxSize/len(s) {
			return errValue(fmt.Errorf("string repeated to more than %d bytes", maxSize)), true
		}
		return exec.AsValue(strings.Repeat(s, n)), true
	case kindList:
		size := measure(seq, maxSize)
		if size > 0 && n > maxSize/size {
			return errValue(fmt.Errorf("list repeated to more than %d items", maxSize)), true
		}
		out := make([]any, 0, n*seq.Len())
		for range n {
			for i := range seq.Len() {
				out = append(out, seq.Index(i).Interface())
			}
		}
		return exec.AsValue(out), true
	}
	return nil, false
}

// intOp applies an arithmetic operator to ints, as Python does: // and % round towards
// negative infinity. A result that does not fit in 64 bits is an error: Python's ints have
// no limit, the sandbox's do.
func intOp(op string, a, b int) *exec.Value {
	var r int
	overflow := false
	switch op {
	case "+":
		r = a + b
		overflow = (r > a) != (b > 0)
	case "-":
		r = a - b
		overflow = (r < a) != (b > 0)
	case "*":
		r = a * b
		overflow = a != 0 && (r/a != b || a == -1 && b == math.MinInt)
	case "//", "%":
		if b == 0 {
			return errValue(pyErrorf("integer division or modulo by zero"))
		}
		q, m := a/b, a%b
		if m != 0 && (m < 0) != (b < 0) {
			q, m = q-1, m+b
		}
		if op == "%" {
			return exec.AsValue(m)
		}
		return exec.AsValue(q)
	case "**":
		r, overflow = ipow(a, b)
	default:
		return errValue(pyErrorf("unsupported operator %s", op))
	}
	if overflow {
		return errValue(pyErrorf("integer result of %s is larger than 64 bits", op))
	}
	return exec.AsValue(r)
}

// ipow returns a to the power b, for b >= 0, and whether it overflows 64 bits.
func ipow(a, b int) (int, bool) {
	switch {
	case a == 0 && b == 0, a == 1:
		return 1, false
	case a == 0:
		return 0, false
	case a == -1:
		return 1 - 2*(b%2), false
	}
	r := 1
	for range b { // |a| >= 2 overflows within 64 steps
		next := r * a
		if next/a != r {
			return 0, true
		}
		r = next
	}
	return r, false
}

// floatOp applies an arithmetic operator to floats, as Python does.
func floatOp(op string, a, b float64) *exec.Value {
	switch op {
	case "+":
		return exec.AsValue(a + b)
	case "-":
		return exec.AsValue(a - b)
	case "*":
		return exec.AsValue(a * b)
	case "/", "//", "%":
		if b == 0 {
			return errValue(pyErrorf("division by zero"))
		}
		switch op {
		case "/":
			return exec.AsValue(a / b)
		case "//":
			return exec.AsValue(math.Floor(a / b))
		}
		m := math.Mod(a, b)
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return exec.AsValue(m)
	case "**":
		if a == 0 && b < 0 {
			return errValue(pyErrorf("0.0 cannot be raised to a negative power"))
		}
		return exec.AsValue(math.Pow(a, b))
	}
	return errValue(pyErrorf("unsupported operator %s", op))
}

// compare applies a comparison operator as Python does: numbers with numbers, strings with
// strings, lists item by item; anything else is an error.
func compare(a, b *exec.Value, op string) (bool, error) {
	c, err := order(a, b)
	if err != nil {
		return false, pyErrorf("'%s' not supported between instances of '%s' and '%s'", op, typeName(a), typeName(b))
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

// pyEqual reports whether a == b in Python: numbers by value (True is 1), strings, lists,
// tuples and dicts by their items.
func pyEqual(a, b *exec.Value) bool {
	ka, kb := kindOf(a), kindOf(b)
	_, ta := a.Interface().(tuple)
	_, tb := b.Interface().(tuple)
	switch {
	case isNumber(a) && isNumber(b):
		c, _ := order(a, b)
		return c == 0
	case ka != kb || ta != tb:
		return false
	case ka == kindNone:
		return true
	case ka == kindStr:
		return a.String() == b.String()
	case ka == kindList:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !pyEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case ka == kindDict:
		pa, pb := dictItems(a), dictItems(b)
		if len(pa) != len(pb) {
			return false
		}
		for _, p := range pa {
			v, ok := b.GetItem(p.Key.Interface())
			if !ok || !pyEqual(p.Value, v) {
				return false
			}
		}
		return true
	}
	return a.EqualValueTo(b)
}

// contains reports whether item is in container, as Python's in does: a substring of a
// string, an item of a list, a key of a dict.
func contains(container, item *exec.Value) (bool, error) {
	switch kindOf(container) {
	case kindStr:
		if kindOf(item) != kindStr {
			return false, pyErrorf("'in <string>' requires string as left operand, not %s", typeName(item))
		}
		return strings.Contains(container.String(), item.String()), nil
	case kindList:
		for i := range container.Len() {
			if pyEqual(container.Index(i), item) {
				return true, nil
			}
		}
		return false, nil
	case kindDict:
		for _, p := range dictItems(container) {
			if pyEqual(p.Key, item) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, pyErrorf("argument of type '%s' is not iterable", typeName(container))
}

// errUnordered is returned by order for values Python cannot order.
var errUnordered = errors.New("unordered")

// order returns -1, 0 or 1 as a is less than, equal to or greater than b in Python's order.
func order(a, b *exec.Value) (int, error) {
	switch {
	case isNumber(a) && isNumber(b):
		if a.IsFloat() || b.IsFloat() {
			x, y := asFloat(a), asFloat(b)
			switch {
			case x < y:
				return -1, nil
			case x > y:
				return 1, nil
			}
			return 0, nil
		}
		x, y := asInt(a), asInt(b)
		switch {
		case x < y:
			return -1, nil
		case x > y:
			return 1, nil
		}
		return 0, nil
	case kindOf(a) == kindStr && kindOf(b) == kindStr:
		return strings.Compare(a.String(), b.String()), nil
	case kindOf(a) == kindList && kindOf(b) == kindList:
		for i := range min(a.Len(), b.Len()) {
			x, y := a.Index(i), b.Index(i)
			if x.EqualValueTo(y) {
				continue
			}
			return order(x, y)
		}
		return order(exec.AsValue(a.Len()), exec.AsValue(b.Len()))
	}
	return 0, errUnordered
}
