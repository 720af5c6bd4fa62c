package jinja

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Reading a template before gonja parses it: what gonja's lexer and parser cannot be given
// is refused or prepared here.

// maxDepth is the deepest that brackets ((, [ and {) may nest in a tag, and statements
// ({% if %}, {% for %}, ...) in a template. gonja parses deep nesting in quadratic time (a
// 40 KB template of nested parentheses took seconds); Jinja2 itself fails at about 100
// levels of either, with a RecursionError.
const maxDepth = 50

// blockStatements are the statements that have an end tag ("end" and their name); set has
// one only when it has no "=".
var blockStatements = map[string]bool{"autoescape": true, "block": true, "call": true, "filter": true,
	"for": true, "if": true, "macro": true, "raw": true, "set": true, "trans": true, "with": true}

// source is a template's text prepared for gonja: the whitespace inside tags that gonja's
// lexer does not know for whitespace (line breaks and the like, which it takes for part of
// the next token: {{ (\n'a') }} printed 'a) is spaces in text. Its offsets are those of the
// template (with \r\n and \r read as \n, as gonja reads them), so positions are computed on
// lines, the template's lines.
type source struct {
	text  string
	lines []int // the offsets where the template's lines start
}

// newlines reads \r\n and \r as \n.
var newlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// read reads src and returns it prepared for gonja, or a problem: nesting deeper than
// maxDepth, or what sends gonja's lexer into an endless loop.
func read(src string) (source, string) {
	if lexerTrap(src) {
		return source{}, "a number, '.' and a non-ASCII character in a tag cannot be parsed safely; put a space after the '.'"
	}
	src = newlines.Replace(src)
	s := source{lines: tokens.PrecomputeLineOffsets(src)}
	b := []byte(src)
	statements := 0
	for i := 0; i+1 < len(b); {
		switch open := src[i : i+2]; open {
		case "{#":
			end := strings.Index(src[i+2:], "#}")
			if end < 0 {
				i = len(b)
				break
			}
			i += 2 + end + 2
		case "{{", "{%":
			end, deepest := scanTag(b, i+2, map[string]string{"{{": "}}", "{%": "%}"}[open])
			if deepest >= 0 {
				line, col := s.position(deepest)
				return source{}, fmt.Sprintf("line %d col %d: brackets nest more than %d deep", line, col, maxDepth)
			}
			if open == "{{" {
				i = end
				break
			}
			tag := strings.TrimLeft(src[i+2:end], "-+ \t\n")
			name := tag[:strings.IndexFunc(tag+" ", func(r rune) bool { return !unicode.IsLetter(r) && r != '_' })]
			switch {
			case strings.HasPrefix(name, "end"):
				statements--
			case blockStatements[name] && (name != "set" || !strings.Contains(string(b[i:end]), "=")):
				if statements++; statements > maxDepth {
					line, col := s.position(i + 2 + strings.Index(src[i+2:], name))
					return source{}, fmt.Sprintf("line %d col %d: statements nest more than %d deep", line, col, maxDepth)
				}
			}
			i = end
			if name == "raw" {
				if raw := reEndRaw.FindStringIndex(src[i:]); raw != nil {
					i += raw[0]
				}
			}
		default:
			i++
		}
	}
	s.text = string(b)
	return s, ""
}

// reEndRaw matches the tag that ends a raw block.
var reEndRaw = regexp.MustCompile(`\{%[-+]?\s*endraw`)

// scanTag reads the tag starting at b[start:], up to the closing delimiter that ends it
// (outside string literals and brackets), replacing its odd whitespace (see oddSpace) with as
// many bytes of spaces. It returns the offset after the tag, and the offset of the first
// bracket nested more than maxDepth deep, or -1.
func scanTag(b []byte, start int, closing string) (end, deepest int) {
	depth, quote := 0, byte(0)
	for i := start; i < len(b); i++ {
		c := b[i]
		if r, size := utf8.DecodeRune(b[i:]); quote == 0 && oddSpace(r) {
			copy(b[i:i+size], "    ")
			i += size - 1
			continue
		}
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			if depth++; depth > maxDepth {
				return i, i
			}
		case (c == ')' || c == ']' || c == '}') && depth > 0:
			depth--
		case depth == 0 && strings.HasPrefix(string(b[i:min(i+2, len(b))]), closing):
			return i + 2, -1
		}
	}
	return len(b), -1
}

// oddSpace reports whether r is whitespace to Jinja2 (Python's \s) but not to gonja's
// lexer, which knows only ' ' and '\t'.
func oddSpace(r rune) bool {
	return r != ' ' && r != '\t' && (unicode.IsSpace(r) || 0x1c <= r && r <= 0x1f)
}

// position returns the line and column in the template of offset pos.
func (s source) position(pos int) (line, col int) {
	return tokens.ReadablePositionFromOffsets(pos, s.lines)
}

// relocate sets the positions of the tokens in the tree of a template parsed from s to
// their positions in the template, when s.text has fewer lines.
func (s source) relocate(root *nodes.Template) {
	if strings.Count(s.text, "\n") == len(s.lines)-1 {
		return // no line was joined: gonja's positions are right
	}
	walkTree(reflect.ValueOf(root), func(v reflect.Value) {
		if v.Kind() == reflect.Pointer && v.CanInterface() {
			if t, ok := v.Interface().(*tokens.Token); ok {
				t.Line, t.Col = s.position(t.Pos)
			}
		}
	})
}

// relocateError returns the position of a syntax error at line and col of s.text in the
// template.
func (s source) relocateError(line, col int) (int, int) {
	offsets := tokens.PrecomputeLineOffsets(s.text)
	if line < 1 || line > len(offsets) {
		return line, col
	}
	return s.position(offsets[line-1] + col - 1)
}

// reLexerTrap matches what sends gonja's lexer into an endless loop that allocates until
// the process dies: inside a tag, a number, a '.', then a character of more than one byte
// (the lexer steps back by that character's width where it should step back one byte).
var reLexerTrap = regexp.MustCompile(`[0-9]\.[^\x00-\x7f]`)

// lexerTrap reports whether a tag ({{ ... }} or {% ... %}) in src holds what reLexerTrap
// matches. A tag's end is taken to be the first "}}" or "%}" after its start, so text in a
// string literal can be refused with it; text outside tags never is.
func lexerTrap(src string) bool {
	for {
		i := strings.Index(src, "{")
		if i < 0 || i+1 >= len(src) {
			return false
		}
		if src[i+1] != '{' && src[i+1] != '%' {
			src = src[i+1:]
			continue
		}
		src = src[i+2:]
		end := len(src)
		for _, close := range []string{"}}", "%}"} {
			if j := strings.Index(src, close); j >= 0 && j < end {
				end = j
			}
		}
		if reLexerTrap.MatchString(src[:end]) {
			return true
		}
		src = src[end:]
	}
}
