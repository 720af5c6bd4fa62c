package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// filter selects the jobs of the job list and of a replay by filter. The query string of
// /jobs and /replay carries it: message, user, state (repeated), since and before.
type filter struct {
	Message, User string
	States        []webhook.JobState
	// Since and Before bound the jobs' CreatedAt: [Since, Before).
	Since, Before time.Time
}

// inputLayouts are the forms of a time the filter accepts: what a datetime-local input sends
// (taken as UTC), with or without seconds, and RFC 3339.
var inputLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339}

// inputLayout is how the filter form shows a time; queryLayout how a query string gives it,
// with its fraction of a second, so that the pages and the replay a query string leads to
// select the same jobs as the page it came from. inputLayouts parse both.
const (
	inputLayout = "2006-01-02T15:04:05"
	queryLayout = "2006-01-02T15:04:05.999999999"
)

// parseFilter reads the filter from r's query string (or, for a POST, its form). It returns an
// error wrapping webhook.ErrInvalid naming the parameter that is wrong.
func parseFilter(r *http.Request) (filter, error) {
	if err := r.ParseForm(); err != nil {
		return filter{}, fmt.Errorf("console: %v: %w", err, webhook.ErrInvalid)
	}
	f := filter{Message: r.Form.Get("message"), User: r.Form.Get("user")}
	var err error
	if f.States, err = parseChoices(r.Form["state"], jobStates, "state", "a job state"); err != nil {
		return filter{}, err
	}
	if f.Since, err = parseInputTime(r.Form.Get("since"), "since"); err != nil {
		return filter{}, err
	}
	if f.Before, err = parseInputTime(r.Form.Get("before"), "before"); err != nil {
		return filter{}, err
	}
	return f, nil
}

// parseChoices returns the values of a repeated parameter called name, each one of all, less
// repeats; what names what each must be in the error, which wraps webhook.ErrInvalid.
func parseChoices[T ~string](values []string, all []T, name, what string) ([]T, error) {
	var out []T
	for _, s := range values {
		c := T(s)
		if !slices.Contains(all, c) {
			return nil, fmt.Errorf("console: %s %q is not %s (one of %v): %w", name, s, what, all, webhook.ErrInvalid)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// parseInputTime parses the time of the parameter called name, or returns the zero time if s
// is empty.
func parseInputTime(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range inputLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("console: %s %q is not a time such as 2006-01-02T15:04:05 (UTC): %w", name, s, webhook.ErrInvalid)
}

// query returns the JobsQuery of f.
func (f filter) query() webhook.JobsQuery {
	return webhook.JobsQuery{MessageID: f.Message, UserID: f.User, States: f.States, CreatedSince: f.Since, CreatedBefore: f.Before}
}

// Values returns f as query parameters.
func (f filter) Values() url.Values {
	v := url.Values{}
	setNonEmpty(v, "message", f.Message)
	setNonEmpty(v, "user", f.User)
	for _, st := range f.States {
		v.Add("state", string(st))
	}
	setNonEmpty(v, "since", queryTime(f.Since))
	setNonEmpty(v, "before", queryTime(f.Before))
	return v
}

// setNonEmpty sets v's parameter k to s, unless s is empty.
func setNonEmpty(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

// Query returns f as a query string, with a leading "?" unless it is empty.
func (f filter) Query() string { return query(f.Values()) }

// query returns v as a query string, with a leading "?" unless it is empty.
func query(v url.Values) string {
	if q := v.Encode(); q != "" {
		return "?" + q
	}
	return ""
}

// Empty reports whether f selects every job.
func (f filter) Empty() bool {
	return f.Message == "" && f.User == "" && len(f.States) == 0 && f.Since.IsZero() && f.Before.IsZero()
}

// Has reports whether f selects state st by name.
func (f filter) Has(st webhook.JobState) bool { return slices.Contains(f.States, st) }

// SinceInput returns f.Since as the form's input shows it.
func (f filter) SinceInput() string { return inputTime(f.Since) }

// BeforeInput returns f.Before as the form's input shows it.
func (f filter) BeforeInput() string { return inputTime(f.Before) }

// inputTime returns t as the filter form shows it, or "" if it is zero.
func inputTime(t time.Time) string { return formatUTC(t, inputLayout) }

// queryTime returns t as a query string gives it, or "" if it is zero.
func queryTime(t time.Time) string { return formatUTC(t, queryLayout) }

// formatUTC returns t in UTC in layout, or "" if it is zero.
func formatUTC(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}
