package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hookline/webhook"
)

// jobsData is the job list's.
type jobsData struct {
	Filter filter
	Jobs   []*webhook.Job
	Pager  pager
}

// pager is the links between the pages of a list.
type pager struct {
	// First is the link to the list's first page, or "" if this is the first; Next the link
	// to the next page, or "" if this is the last.
	First, Next string
}

// newPager returns the links of the page at cursor of the list at path, below the console's
// base, with the query parameters of its filter; next is the cursor of the next page, or "".
func newPager(base, path string, filter url.Values, cursor, next string) pager {
	var p pager
	if cursor != "" {
		p.First = base + path + query(filter)
	}
	if next != "" {
		filter.Set("cursor", next)
		p.Next = base + path + "?" + filter.Encode()
	}
	return p
}

// jobs fills in the job list: a page of the jobs the query string's filter selects, newest
// first.
func (h *handler) jobs(r *http.Request, v *view) (string, error) {
	f, err := parseFilter(r)
	if err != nil {
		return "", err
	}
	q := f.query()
	q.Cursor, q.Limit = r.Form.Get("cursor"), h.opts.PageSize
	page, err := h.s.Jobs(r.Context(), q)
	if err != nil {
		return "", err
	}
	v.Title, v.Data = "Jobs", &jobsData{Filter: f, Jobs: page.Jobs, Pager: newPager(v.Base, "/jobs", f.Values(), q.Cursor, page.Next)}
	return "jobs", nil
}

// jobAttempts is how many of a job's attempts its page shows, newest first.
const jobAttempts = 100

// jobData is the job page's.
type jobData struct {
	Job *webhook.Job
	// Request is the job's rendered request, redacted, or nil if it has none (it was not
	// rendered yet, or it ended).
	Request *webhook.Request
	// Attempts are its latest attempts, newest first, redacted; More says if there are older
	// ones.
	Attempts []webhook.Attempt
	More     bool
}

// job fills in the page of the job named by the path: the job and its attempts, with the
// request and response of each.
func (h *handler) job(r *http.Request, v *view) (string, error) {
	ctx, id := r.Context(), r.PathValue("id")
	j, err := h.s.Job(ctx, id)
	if err != nil {
		return "", err
	}
	page, err := h.s.AttemptLog(ctx, webhook.AttemptLogQuery{JobID: id, Limit: jobAttempts})
	if err != nil {
		return "", err
	}
	d := &jobData{Job: j, Attempts: page.Attempts, More: page.Next != ""}
	if j.Request != nil {
		d.Request = j.Request.Redacted()
	}
	for i := range d.Attempts {
		redactAttempt(&d.Attempts[i])
	}
	v.Title, v.Data = "Job "+id, d
	return "job", nil
}

// redactAttempt redacts a's request and response headers again, by the rules of
// [webhook.Request.Redacted]: the Sender logs them redacted, but a Store of the app's own may
// hold attempts it wrote itself.
func redactAttempt(a *webhook.Attempt) {
	req := (&webhook.Request{URL: a.URL, Header: a.RequestHeader}).Redacted()
	if a.URL != "" {
		a.URL = req.URL
	}
	a.RequestHeader = req.Header
	a.ResponseHeader = (&webhook.Request{Header: a.ResponseHeader}).Redacted().Header
}

// jobAction retries or cancels the job named by the path. Retrying an ended job replays it.
func (h *handler) jobAction(r *http.Request) (string, error) {
	ctx, id := r.Context(), r.PathValue("id")
	var done string
	switch action := r.PathValue("action"); action {
	case "retry":
		j, err := h.s.Job(ctx, id)
		if err != nil {
			return "", err
		}
		done = "retried"
		if j.State.Ended() {
			done = "replayed"
		}
		err = h.s.RetryJob(ctx, id)
		if err != nil {
			return "", err
		}
	case "cancel":
		if err := h.s.CancelJob(ctx, id); err != nil {
			return "", err
		}
		done = "cancelled"
	default:
		return "", fmt.Errorf("console: no job action %q: %w", action, webhook.ErrNotFound)
	}
	return pathTo("", "jobs", id) + "?done=" + done, nil
}

// search sends the browser to the job whose ID the query string's q is, else to the message
// whose ID it is, else to the list of the jobs of the user whose ID it is. Without q it shows
// the search form.
func (h *handler) search(r *http.Request, v *view) (string, error) {
	ctx, q := r.Context(), strings.TrimSpace(r.FormValue("q"))
	if q == "" {
		v.Title = "Search"
		return "search", nil
	}
	_, err := h.s.Job(ctx, q)
	if err == nil {
		return "", redirectError(pathTo("", "jobs", q))
	} else if !errors.Is(err, webhook.ErrNotFound) {
		return "", err
	}
	_, err = h.s.Message(ctx, q, 0)
	if err == nil {
		return "", redirectError(pathTo("", "messages", q))
	} else if !errors.Is(err, webhook.ErrNotFound) {
		return "", err
	}
	return "", redirectError("/jobs" + filter{User: q}.Query())
}
