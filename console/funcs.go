package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hookline/webhook"
)

// funcs are the functions the templates call.
var funcs = template.FuncMap{
	"path":     pathTo,
	"time":     formatTime,
	"ago":      ago,
	"percent":  percent,
	"json":     toJSON,
	"headers":  headerLines,
	"states":   func() []webhook.JobState { return jobStates },
	"outcomes": func() []webhook.Outcome { return outcomes },
	"classes":  func() []statusClass { return statusClasses },
}

// jobStates are the states of a job, in the order of its life.
var jobStates = webhook.JobStates()

// pathTo returns the path below the console's base made of segments, each escaped: so that
// an ID with a slash or a question mark stays one segment.
func pathTo(base string, segments ...string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// timeLayout is how the pages show times, in UTC.
const timeLayout = "2006-01-02 15:04:05 UTC"

// formatTime returns t in UTC, or "—" if it is zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(timeLayout)
}

// ago returns how long before now t was, rounded to the second, or "—" if t is zero.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return now.Sub(t).Round(time.Second).String()
}

// percent returns n/of as a percentage with one decimal, or "—" if of is 0.
func percent(n, of int64) string {
	if of == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// toJSON returns v as indented JSON, for a <pre> block: with <, > and & as they are, since
// html/template escapes the text.
func toJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return b.String()
}

// headerLines returns h as "Name: value" lines in name order, as a request or response shows
// it.
func headerLines(h http.Header) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}
