package jinja

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Private filters that escape a value for its position in a URL. They are registered only in
// the sandbox's own filter set.
const (
	filterURLAuthority = "_url_authority"
	filterURLPath      = "_url_path"
	filterURLQuery     = "_url_query"
	filterURLFragment  = "_url_fragment"
)

// urlEscapes are the escape functions of the private URL filters.
var urlEscapes = map[string]func(string) string{
	filterURLAuthority: escapeAuthority,
	filterURLPath:      escapePathSegment,
	filterURLQuery:     url.QueryEscape,
	filterURLFragment:  url.PathEscape,
}

// urlPosition is where in a URL a substituted value lands.
type urlPosition int

const (
	urlStart     urlPosition = iota // before "://": the value is the base URL itself
	urlAuthority                    // user info, host and port
	urlPath
	urlQuery
	urlFragment
)

var urlFilters = [...]string{
	urlAuthority: filterURLAuthority,
	urlPath:      filterURLPath,
	urlQuery:     filterURLQuery,
	urlFragment:  filterURLFragment,
}

// CompileURL compiles a URL template, as [Env.Compile] does, and makes every value
// substituted into it escaped for its position, which is read from the literal text before
// it: a value in the path is one path segment, a value in the query one query value. The
// template must start with http:// or https://, or with a value (the base URL itself), and
// may hold expressions only, not statements.
func (e *Env) CompileURL(src string) (*Template, []string) {
	t, ps := e.Compile(src)
	if t == nil {
		return nil, ps
	}
	t.single = nil
	pos := urlStart
	literal := "" // the literal text the URL starts with, before any value
	valueSeen := false
	for _, n := range t.t.Root().Nodes {
		switch n := n.(type) {
		case *nodes.Data:
			text := n.Data.Val
			if i := strings.IndexFunc(text, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
				ps = append(ps, fmt.Sprintf("line %d col %d: spaces and control characters must be percent-encoded", n.Data.Line, n.Data.Col+i))
			}
			if pos == urlStart && !valueSeen {
				literal += text
			}
			pos = advanceURLPosition(pos, text)
		case *nodes.Output:
			if pos == urlStart && literal != "" {
				// A value right after a literal scheme, as in "https://{{ host }}", is in the
				// authority; one right at the start is the base URL itself.
				pos = urlAuthority
			}
			valueSeen = true
			if pos != urlStart {
				n.Expression = escapeExpression(n.Expression, urlFilters[pos], n.Start)
				if n.Alternative != nil {
					n.Alternative = escapeExpression(n.Alternative, urlFilters[pos], n.Start)
				}
			}
		case *nodes.Comment:
		default:
			ps = append(ps, position(n.Position())+": statements ({% ... %}) are not allowed in a URL; use an inline if: {{ 'a' if cond else 'b' }}")
		}
	}
	if i := strings.Index(literal, "://"); i >= 0 {
		if scheme := strings.ToLower(literal[:i]); scheme != "http" && scheme != "https" {
			ps = append(ps, fmt.Sprintf("scheme %q is not http or https", literal[:i]))
		}
	} else if literal != "" {
		ps = append(ps, "must start with http:// or https://")
	}
	if len(ps) > 0 {
		return nil, ps
	}
	t.parts, t.simple = simpleParts(t.t.Root()) // again, with the escaping filters
	return t, nil
}

// advanceURLPosition returns the position after the literal URL text s.
func advanceURLPosition(pos urlPosition, s string) urlPosition {
	if pos == urlStart {
		i := strings.Index(s, "://")
		if i < 0 {
			return urlStart
		}
		pos, s = urlAuthority, s[i+3:]
	}
	for _, c := range []byte(s) {
		switch {
		case c == '#':
			return urlFragment
		case c == '?' && pos < urlQuery:
			pos = urlQuery
		case c == '/' && pos == urlAuthority:
			pos = urlPath
		}
	}
	return pos
}

// escapeExpression returns expr escaped with one of the private URL filters.
func escapeExpression(expr nodes.Expression, filter string, at *tokens.Token) nodes.Expression {
	return &nodes.FilteredExpression{
		Expression: expr,
		Filters:    []*nodes.FilterCall{{Token: at, Name: filter}},
	}
}

// escapePathSegment escapes s as one path segment: it can neither add a segment ("/") nor
// climb out of one ("." and "..").
func escapePathSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// escapeAuthority percent-encodes everything in s but the characters of a host, a port and
// an IPv6 literal, so a value can neither end the authority nor add user info.
func escapeAuthority(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:[]", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
