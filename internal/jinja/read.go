package jinja

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// maxDepth is the deepest that brackets ((, [ and {) may nest in a tag, and statements
// ({% if %}, {% for %}, ...) in a template. gonja parses deep nesting in quadratic time (a
// 40 KB template of nested parentheses took seconds); Jinja2 itself fails at about 100
// levels of either, with a RecursionError.
const maxDepth = 50

// blockStatements are the statements that have an end tag ("end" and their name); set has
// one only when it has no "=".
var blockStatements = map[string]bool{"autoescape": true, "block": true, "call": true, "filter": true,
	"for": true, "if": true, "macro": true, "raw": true, "set": true, "trans": true, "with": true}

// read returns a problem with src found before it is parsed, or "". It reads src with
// gonja's lexer (unless the lexer would not return) and refuses nesting deeper than
// maxDepth.
func read(src string) string {
	if lexerTrap(src) {
		return "a number, '.' and a non-ASCII character in a tag cannot be parsed safely; put a space after the '.'"
	}
	cfg := config.New()
	cfg.KeepTrailingNewline = true
	var toks []*tokens.Token
	for stream := tokens.LexAll(src, cfg); !stream.End(); stream.Next() {
		toks = append(toks, stream.Current())
	}
	brackets, statements := 0, 0
	for i, tok := range toks {
		switch tok.Type {
		case tokens.BlockBegin, tokens.VariableBegin:
			brackets = 0
		case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
			if brackets++; brackets > maxDepth {
				return fmt.Sprintf("line %d col %d: brackets nest more than %d deep", tok.Line, tok.Col, maxDepth)
			}
		case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
			brackets--
		case tokens.Name:
			if i == 0 || toks[i-1].Type != tokens.BlockBegin {
				break
			}
			switch name := tok.Val; {
			case strings.HasPrefix(name, "end"):
				statements--
			case blockStatements[name] && (name != "set" || !assigns(toks[i+1:])):
				if statements++; statements > maxDepth {
					return fmt.Sprintf("line %d col %d: statements nest more than %d deep", tok.Line, tok.Col, maxDepth)
				}
			}
		}
	}
	return ""
}

// assigns reports whether the rest of a tag, toks, has an "=" before its end.
func assigns(toks []*tokens.Token) bool {
	for _, tok := range toks {
		switch tok.Type {
		case tokens.BlockEnd:
			return false
		case tokens.Assign:
			return true
		}
	}
	return false
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
