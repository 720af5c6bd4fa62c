package console

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// overviewMessages is how many messages the overview lists: the first in ID order of those
// with jobs and those saved.
const overviewMessages = 200

// overviewData is the overview page's.
type overviewData struct {
	Queue webhook.QueueStats
	// Messages are the first of the messages with jobs and the saved ones, in ID order;
	// MoreMessages says if some were left out.
	Messages     []messageRow
	MoreMessages bool
	Hosts        []webhook.HostStats
	// HostsSince is the start of the hosts' window.
	HostsSince time.Time
}

// messageRow is a message's row on the overview.
type messageRow struct {
	webhook.MessageCounts
	// Name is the message's name, if it is saved and not deleted.
	Name string
}

// overview fills in the overview: the queue, each message's jobs by state, and each host's
// attempts over Options.HostWindow.
func (h *handler) overview(r *http.Request, v *view) (string, error) {
	ctx := r.Context()
	d := &overviewData{HostsSince: v.Now.Add(-h.opts.HostWindow)}
	var err error
	if d.Queue, err = h.s.QueueStats(ctx); err != nil {
		return "", err
	}
	counts, err := h.s.JobCounts(ctx)
	if err != nil {
		return "", err
	}
	saved, err := h.s.Messages(ctx, "", overviewMessages+1)
	if err != nil {
		return "", err
	}
	byID := make(map[string]*messageRow, len(counts)+len(saved))
	for _, c := range counts {
		byID[c.MessageID] = &messageRow{MessageCounts: c}
	}
	for _, m := range saved {
		row := byID[m.ID]
		if row == nil {
			row = &messageRow{MessageCounts: webhook.MessageCounts{MessageID: m.ID}}
			byID[m.ID] = row
		}
		row.Name = m.Name
	}
	for _, row := range byID {
		d.Messages = append(d.Messages, *row)
	}
	slices.SortFunc(d.Messages, func(a, b messageRow) int { return cmp.Compare(a.MessageID, b.MessageID) })
	if len(d.Messages) > overviewMessages {
		d.Messages, d.MoreMessages = d.Messages[:overviewMessages], true
	}
	if d.Hosts, err = h.s.Hosts(ctx, d.HostsSince); err != nil {
		return "", err
	}
	v.Title, v.Data = "Overview", d
	return "overview", nil
}
