package webhook

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A dialect (Message.Dialect) reads the templates of a message as another platform writes
// them: each {{ ... }} tag that holds one of the platform's tokens is rewritten into the
// library's template language when the message is compiled, and any other text is left as
// written. The message keeps the text as written, so a problem with it, found by the dialect
// or by the template sandbox, is reported at the line and column of that text.
// docs/templates.md has the table of what each dialect covers.

// dialect is the template language of another platform.
type dialect struct {
	name string
	// tag returns what the tag {{ content }} becomes (a whole tag of the library's, {{ }} or
	// {% %}), "" to leave it as written, or a problem.
	tag func(content string) (replacement, problem string)
}

// dialects are the dialects by the names Message.Dialect takes.
var dialects = map[string]*dialect{
	"leanplum": {name: "Leanplum", tag: leanplumTag},
	"iterable": {name: "Iterable", tag: iterableTag},
}

// dialectNamed returns the dialect of a Message.Dialect (nil for none), or a problem.
func dialectNamed(name string) (*dialect, string) {
	if name == "" {
		return nil, ""
	}
	if d := dialects[name]; d != nil {
		return d, ""
	}
	return nil, fmt.Sprintf("%q is not a dialect: leanplum or iterable", name)
}

// replacement is one tag that a translation rewrote: its span in the text as written, and in
// the translation.
type replacement struct {
	from, to       int // in the text as written
	outFrom, outTo int // in the translation
}

// translate returns src in the library's template language, a function that tells the
// positions in a problem with the translation ("line L col C: ...") as positions in src, and
// the problems with src's own tokens, each at its position. Line breaks are read as the
// template sandbox reads them (\r\n and \r as \n).
func (d *dialect) translate(src string) (string, func(string) string, []string) {
	src = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(src)
	var (
		out      strings.Builder
		reps     []replacement
		problems []string
	)
	lines := lineStarts(src)
	for i := 0; i < len(src); {
		open := strings.Index(src[i:], "{")
		if open < 0 || i+open+1 >= len(src) {
			out.WriteString(src[i:])
			break
		}
		open += i
		out.WriteString(src[i:open])
		start, end, content := tagAt(src, open)
		if content == nil { // not a {{ }} tag: copied as it is, {% raw %} blocks whole
			out.WriteString(src[open:end])
			i = end
			continue
		}
		rep, problem := d.tag(strings.TrimSpace(*content))
		switch {
		case problem != "":
			line, col := linePosition(lines, start)
			problems = append(problems, fmt.Sprintf("line %d col %d: %s", line, col, problem))
			out.WriteString(src[start:end])
		case rep == "":
			out.WriteString(src[start:end])
		default:
			reps = append(reps, replacement{from: start, to: end, outFrom: out.Len(), outTo: out.Len() + len(rep)})
			out.WriteString(rep)
		}
		i = end
	}
	translated := out.String()
	outLines := lineStarts(translated)
	remap := func(msg string) string {
		m := rePosition.FindStringSubmatchIndex(msg)
		if m == nil || len(reps) == 0 {
			return msg
		}
		line, _ := strconv.Atoi(msg[m[2]:m[3]])
		col, _ := strconv.Atoi(msg[m[4]:m[5]])
		if line < 1 || line > len(outLines) {
			return msg
		}
		at := writtenOffset(outLines[line-1]+col-1, reps)
		line, col = linePosition(lines, at)
		return fmt.Sprintf("line %d col %d", line, col) + msg[m[1]:]
	}
	return translated, remap, problems
}

// rePosition matches the position a problem starts with.
var rePosition = regexp.MustCompile(`^line (\d+) col (\d+)`)

// writtenOffset returns the offset in the text as written of the offset at in its
// translation: the start of the tag that was rewritten into where at is, or at moved by what
// the rewritten tags before it added.
func writtenOffset(at int, reps []replacement) int {
	shift := 0
	for _, r := range reps {
		switch {
		case at < r.outFrom:
			return at - shift
		case at < r.outTo:
			return r.from
		}
		shift += (r.outTo - r.outFrom) - (r.to - r.from)
	}
	return at - shift
}

// lineStarts returns the offsets at which the lines of s start.
func lineStarts(s string) []int {
	starts := []int{0}
	for i := range len(s) {
		if s[i] == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// linePosition returns the line and column (from 1, in bytes) of offset at, given the offsets at
// which lines start.
func linePosition(lines []int, at int) (int, int) {
	line, _ := slices.BinarySearch(lines, at+1)
	return line, at - lines[line-1] + 1
}

// tagAt reads the tag that starts at src[open], which is '{', and returns its span and, for a
// {{ }} or {{{ }}} tag, its content; content is nil for other text ({% %} and {# #} tags, a
// {% raw %} block, or a lone '{'), which is left as written.
func tagAt(src string, open int) (start, end int, content *string) {
	rest := src[open:]
	switch {
	case strings.HasPrefix(rest, "{#"):
		return open, closing(src, open+2, "#}"), nil
	case strings.HasPrefix(rest, "{%"):
		end := closing(src, open+2, "%}")
		if reRawTag.MatchString(src[open:end]) {
			if loc := reEndRaw.FindStringIndex(src[end:]); loc != nil {
				end += loc[1]
			} else {
				end = len(src)
			}
		}
		return open, end, nil
	case strings.HasPrefix(rest, "{{{"):
		end := closing(src, open+3, "}}}")
		c := src[open+3 : max(open+3, end-3)]
		return open, end, &c
	case strings.HasPrefix(rest, "{{"):
		end := closing(src, open+2, "}}")
		c := strings.TrimSuffix(strings.TrimPrefix(src[open+2:max(open+2, end-2)], "-"), "-")
		return open, end, &c
	}
	return open, open + 1, nil
}

// reRawTag and reEndRaw match the tags that start and end a {% raw %} block.
var (
	reRawTag = regexp.MustCompile(`^\{%[-+]?\s*raw\s*[-+]?%\}$`)
	reEndRaw = regexp.MustCompile(`\{%[-+]?\s*endraw\s*[-+]?%\}`)
)

// closing returns the offset after the first delim at or after from that is outside a string
// literal, or len(src) if there is none.
func closing(src string, from int, delim string) int {
	quote := byte(0)
	for i := from; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case strings.HasPrefix(src[i:], delim):
			return i + len(delim)
		}
	}
	return len(src)
}

// splitFilters splits a tag's content at its first '|' outside a string literal: the value,
// and the filters with their '|', or "".
func splitFilters(content string) (string, string) {
	quote := byte(0)
	for i := 0; i < len(content); i++ {
		c := content[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '|' && !strings.HasPrefix(content[i:], "||"):
			return strings.TrimSpace(content[:i]), " " + strings.TrimSpace(content[i:])
		}
	}
	return content, ""
}

// leanplumValues are the values Leanplum's templates read that the library has, by the names
// Leanplum's message composer inserts and its built-in variables.
var leanplumValues = map[string]string{
	"User ID":    "user.id",
	"userId":     "user.id",
	"Message ID": "message.id",
	"messageId":  "message.id",
	"country":    "user.country",
	"region":     "user.region",
	"city":       "user.city",
	"locale":     "user.locale",
	"firstRun":   "user.created_at",
	"lastActive": "user.last_active",
}

// leanplumMissing are Leanplum's built-in values that the library does not have: a template
// that reads one is refused rather than failing when it renders.
var leanplumMissing = []string{"Device ID", "deviceId", "appVersion", "language", "numPriorSessions",
	"minutesSpentInApp", "lifetimeValue", "occurrencesOf", "firstOccurrenceOf", "lastOccurrenceOf",
	"valueOf", "linkedData", "timezone"}

// reLabel matches a value of Leanplum's composer: words with spaces, as in {{User ID}}.
var reLabel = regexp.MustCompile(`^[A-Za-z]+(?: [A-Za-z]+)+$`)

// reBase matches the name a value starts with, before any '.' or '['.
var reBase = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

// leanplumTag translates a tag of Leanplum's: a value of leanplumValues, with any filters.
// userAttribute and parameter are the library's own variables, and the rest of Jinja is the
// library's language, so other tags are left as written.
func leanplumTag(content string) (string, string) {
	value, filters := splitFilters(content)
	if v, ok := leanplumValues[value]; ok {
		return "{{ " + v + filters + " }}", ""
	}
	if slices.Contains(leanplumMissing, value) || slices.Contains(leanplumMissing, reBase.FindString(value)) {
		return "", fmt.Sprintf("Leanplum's {{%s}} has no equivalent in this library", value)
	}
	if reLabel.MatchString(value) {
		return "", fmt.Sprintf("{{%s}} is not a value of Leanplum's that the leanplum dialect knows", value)
	}
	return "", ""
}

// libraryVariables are the variables templates see (see Message): a merge tag that starts
// with one of them is the library's own, and is left as written.
var libraryVariables = []string{"user", "userAttribute", "parameter", "event", "message", "variant", "now"}

// iterableValues are the user profile fields of Iterable that are fields of User.
var iterableValues = map[string]string{"email": "user.email", "userId": "user.id"}

// iterableHelpers are the Handlebars helpers of Iterable that the iterable dialect translates,
// by name: the filter that does the same, and how many arguments each takes after the value.
var iterableHelpers = map[string]struct {
	filter string
	args   int
}{
	"defaultIfEmpty": {"default", 1},
	"upper":          {"upper", 0},
	"lower":          {"lower", 0},
	"urlEncode":      {"urlencode", 0},
	"toJson":         {"tojson", 0},
}

// reHelper matches the helper a tag calls, and its arguments.
var reHelper = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)\s+(.+)$`)

// iterableTag translates a tag of Iterable's Handlebars: a merge tag (a field, as in
// {{firstName}} or {{address.city}}, or [a field with spaces]), a helper of iterableHelpers,
// and the blocks #if and #unless with else. Other tags are left as written, which lets a
// message mix in the library's own Jinja.
func iterableTag(content string) (string, string) {
	switch {
	case content == "else":
		return "{% else %}", ""
	case content == "/if" || content == "/unless":
		return "{% endif %}", ""
	case strings.HasPrefix(content, "!"):
		return "{# #}", "" // a Handlebars comment
	case strings.HasPrefix(content, "#if ") || strings.HasPrefix(content, "#unless "):
		kind, field, _ := strings.Cut(content[1:], " ")
		v, ok := iterableField(strings.TrimSpace(field))
		if !ok {
			return "", fmt.Sprintf("{{#%s}} takes a field, not %q", kind, strings.TrimSpace(field))
		}
		not := ""
		if kind == "unless" {
			not = "not "
		}
		// Handlebars is false for a field that is missing, as for one that is empty.
		return "{% if " + not + v + " | default(none) %}", ""
	case strings.HasPrefix(content, "#") || strings.HasPrefix(content, "/"):
		name, _, _ := strings.Cut(content[1:], " ")
		return "", fmt.Sprintf("Iterable's block {{#%s}} has no equivalent in the iterable dialect: use Jinja's {%% if %%} or {%% for %%}", name)
	}
	if v, ok := iterableField(content); ok {
		return "{{ " + v + " }}", ""
	}
	m := reHelper.FindStringSubmatch(content)
	if m == nil {
		return "", ""
	}
	h, ok := iterableHelpers[m[1]]
	if !ok {
		if reJinja.MatchString(m[2]) {
			return "", "" // Jinja, such as {{ a if b else c }}
		}
		return "", fmt.Sprintf("Iterable's helper %q has no equivalent in the iterable dialect", m[1])
	}
	args, ok := helperArgs(m[2])
	if !ok || len(args) != h.args+1 {
		return "", fmt.Sprintf("{{%s}} takes a field and %d more arguments", m[1], h.args)
	}
	v, ok := iterableField(args[0])
	if !ok {
		return "", fmt.Sprintf("{{%s}} takes a field, not %q", m[1], args[0])
	}
	filter := h.filter
	if h.filter == "default" { // defaultIfEmpty: also in place of an empty value
		filter += "(" + args[1] + ", true)"
	}
	return "{{ " + v + " | " + filter + " }}", ""
}

// reJinja matches what, after a name, makes a tag Jinja rather than a Handlebars helper: an
// operator, a bracket, or one of Jinja's keywords.
var reJinja = regexp.MustCompile(`[|()\[\]=<>+*~%/-]|\b(?:if|else|and|or|not|in|is)\b`)

// reField matches a field of a merge tag: names separated by '.', each a word or [text].
var reField = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*|\[[^\]]+\])(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|\[[^\]]+\]|[0-9]+))*$`)

// iterableField returns the expression of the library that reads a field of a merge tag, and
// whether field is one: email and userId read the user, and any other field the user's
// attribute. (Iterable also merges a triggering event's fields so; here they are the
// library's parameter, as {{ parameter.field }}, which the dialect leaves as written.)
func iterableField(field string) (string, bool) {
	if v, ok := iterableValues[field]; ok {
		return v, true
	}
	if !reField.MatchString(field) || slices.Contains(libraryVariables, reBase.FindString(field)) {
		return "", false
	}
	path := "userAttribute"
	for rest := field; rest != ""; rest = strings.TrimPrefix(rest, ".") {
		var name string
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			name, rest = rest[1:end], rest[end+1:]
		} else {
			name, rest, _ = strings.Cut(rest, ".")
		}
		path += "[" + pyQuote(name) + "]"
	}
	return path, true
}

// helperArgs splits a helper's arguments at spaces outside string literals, and rewrites
// its string literals as Jinja's.
func helperArgs(s string) ([]string, bool) {
	var args []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if q := s[0]; q == '"' || q == '\'' {
			var lit strings.Builder
			end := 1
			for ; end < len(s) && s[end] != q; end++ {
				if s[end] == '\\' && end+1 < len(s) {
					end++
				}
				lit.WriteByte(s[end])
			}
			if end == len(s) {
				return nil, false
			}
			args, s = append(args, pyQuote(lit.String())), s[end+1:]
			continue
		}
		arg, rest, _ := strings.Cut(s, " ")
		args, s = append(args, arg), rest
	}
	return args, true
}

// pyQuote returns s as a Jinja string literal.
func pyQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
