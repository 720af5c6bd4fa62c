package console

import (
	"net/http"
	"strconv"

	"github.com/hookline/webhook"
)

// replayData is the replay confirmation page's.
type replayData struct {
	Filter filter
	// Count is how many jobs the replay would move back to the queue now, by a dry run.
	Count int
}

// replayForm fills in the confirmation page of a replay by the query string's filter: the
// exact count of the jobs it would replay, from a dry run, and the button that does it.
func (h *handler) replayForm(r *http.Request, v *view) (string, error) {
	f, err := parseFilter(r)
	if err != nil {
		return "", err
	}
	n, err := h.s.Replay(r.Context(), f.query(), webhook.ReplayOptions{DryRun: true})
	if err != nil {
		return "", err
	}
	v.Title, v.Data = "Replay", &replayData{Filter: f, Count: n}
	return "replay", nil
}

// replay replays the jobs the form's filter selects, and sends the browser to the list of the
// jobs of the same filter in any state, where they are seen being sent.
func (h *handler) replay(r *http.Request) (string, error) {
	f, err := parseFilter(r)
	if err != nil {
		return "", err
	}
	n, err := h.s.Replay(r.Context(), f.query(), webhook.ReplayOptions{})
	if err != nil {
		return "", err
	}
	f.States = nil
	q := f.Values()
	q.Set("done", "replay")
	q.Set("n", strconv.Itoa(n))
	return "/jobs?" + q.Encode(), nil
}
