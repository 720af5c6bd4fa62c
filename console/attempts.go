package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/hookline/webhook"
)

// outcomes are the outcomes of an attempt, in the order the attempt log's filter shows them.
var outcomes = []webhook.Outcome{
	webhook.Succeeded, webhook.Retrying, webhook.Failed, webhook.Blocked, webhook.Skipped, webhook.Cancelled,
}

// statusClass is a choice of the attempt log's status filter.
type statusClass struct {
	// Class is the value of AttemptLogQuery.StatusClass.
	Class int
	Name  string
}

// statusClasses are the choices of the attempt log's status filter.
var statusClasses = []statusClass{{0, "any"}, {2, "2xx"}, {3, "3xx"}, {4, "4xx"}, {5, "5xx"}, {-1, "no response"}}

// attemptFilter selects the attempts of the attempt log page. The query string of /attempts
// carries it: message, user, outcome (repeated), status, since and until.
type attemptFilter struct {
	Message, User string
	Outcomes      []webhook.Outcome
	// Status is a class of AttemptLogQuery.StatusClass.
	Status int
	// Since and Until bound the attempts' Time: [Since, Until).
	Since, Until time.Time
}

// parseAttemptFilter reads the attempt log's filter from r's query string. It returns an
// error wrapping webhook.ErrInvalid naming the parameter that is wrong.
func parseAttemptFilter(r *http.Request) (attemptFilter, error) {
	q := r.URL.Query()
	f := attemptFilter{Message: q.Get("message"), User: q.Get("user")}
	var err error
	if f.Outcomes, err = parseChoices(q["outcome"], outcomes, "outcome", "an attempt's outcome"); err != nil {
		return attemptFilter{}, err
	}
	if s := q.Get("status"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !slices.ContainsFunc(statusClasses, func(c statusClass) bool { return c.Class == n }) {
			return attemptFilter{}, fmt.Errorf("console: status %q is not a status class (2, 3, 4, 5, or -1 for no response): %w", s, webhook.ErrInvalid)
		}
		f.Status = n
	}
	if f.Since, err = parseInputTime(q.Get("since"), "since"); err != nil {
		return attemptFilter{}, err
	}
	if f.Until, err = parseInputTime(q.Get("until"), "until"); err != nil {
		return attemptFilter{}, err
	}
	return f, nil
}

// Values returns f as query parameters.
func (f attemptFilter) Values() url.Values {
	v := url.Values{}
	setNonEmpty(v, "message", f.Message)
	setNonEmpty(v, "user", f.User)
	setNonEmpty(v, "since", queryTime(f.Since))
	setNonEmpty(v, "until", queryTime(f.Until))
	for _, o := range f.Outcomes {
		v.Add("outcome", string(o))
	}
	if f.Status != 0 {
		v.Set("status", strconv.Itoa(f.Status))
	}
	return v
}

// Has reports whether f selects outcome o by name.
func (f attemptFilter) Has(o webhook.Outcome) bool { return slices.Contains(f.Outcomes, o) }

// SinceInput returns f.Since as the form's input shows it.
func (f attemptFilter) SinceInput() string { return inputTime(f.Since) }

// UntilInput returns f.Until as the form's input shows it.
func (f attemptFilter) UntilInput() string { return inputTime(f.Until) }

// attemptsData is the attempt log page's.
type attemptsData struct {
	Filter   attemptFilter
	Attempts []webhook.Attempt
	Pager    pager
}

// attempts fills in the attempt log page: a page of the attempts the query string's filter
// selects, newest first, with why each did not succeed.
func (h *handler) attempts(r *http.Request, v *view) (string, error) {
	f, err := parseAttemptFilter(r)
	if err != nil {
		return "", err
	}
	q := webhook.AttemptLogQuery{
		MessageID: f.Message, UserID: f.User, Outcomes: f.Outcomes, StatusClass: f.Status,
		Since: f.Since, Until: f.Until, Cursor: r.URL.Query().Get("cursor"), Limit: h.opts.PageSize,
	}
	page, err := h.s.AttemptLog(r.Context(), q)
	if err != nil {
		return "", err
	}
	d := &attemptsData{Filter: f, Attempts: page.Attempts, Pager: newPager(v.Base, "/attempts", f.Values(), q.Cursor, page.Next)}
	for i := range d.Attempts {
		redactAttempt(&d.Attempts[i])
	}
	v.Title, v.Data = "Attempts", d
	return "attempts", nil
}
