package memstore

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/hookline/webhook"
)

// FindJobs implements [webhook.Inspector] by a scan of the jobs: memstore keeps no index
// but the queue's.
func (s *Store) FindJobs(ctx context.Context, p webhook.FindJobsParams) ([]*webhook.Job, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*webhook.Job
	for _, r := range s.jobs {
		j := &r.job
		if p.Query.Match(j) && (p.AfterID == "" || newestFirst(j, p.AfterCreatedAt, p.AfterID) > 0) {
			c := *j
			out = append(out, &c)
		}
	}
	return firstPage(out, func(a, b *webhook.Job) int { return newestFirst(a, b.CreatedAt, b.ID) }, p.Limit), nil
}

// firstPage sorts rows by cmp, keeping the order of rows it finds equal, and returns the
// first limit of them, or all if limit is 0 or less.
func firstPage[T any](rows []T, cmp func(a, b T) int, limit int) []T {
	slices.SortStableFunc(rows, cmp)
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	return rows
}

// newestFirst compares j with the job created at t with ID id in the order of FindJobs: it
// is negative if j comes first.
func newestFirst(j *webhook.Job, t time.Time, id string) int {
	if c := t.Compare(j.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(id, j.ID)
}

// FindAttempts implements [webhook.Inspector] by a scan of the log (see attemptLog.page).
func (s *Store) FindAttempts(ctx context.Context, p webhook.FindAttemptsParams) ([]webhook.Attempt, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var found []int
	for i := range s.attempts.len() {
		a := s.attempts.at(i)
		if p.Query.Match(a) && (p.AfterSeq == 0 || attemptOrder(a, p.AfterTime, p.AfterSeq) > 0) {
			found = append(found, i)
		}
	}
	return s.attempts.page(found, func(a, b *webhook.Attempt) int { return attemptOrder(a, b.Time, b.Seq) }, p.Limit), nil
}

// attemptOrder compares a with the attempt at t with Seq seq in the order of FindAttempts: it
// is negative if a comes first.
func attemptOrder(a *webhook.Attempt, t time.Time, seq int64) int {
	if c := t.Compare(a.Time); c != 0 {
		return c
	}
	return cmp.Compare(seq, a.Seq)
}

// CountJobs implements [webhook.Inspector] from the counts kept as jobs change state.
func (s *Store) CountJobs(ctx context.Context, p webhook.CountJobsParams) ([]webhook.MessageCounts, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ids := p.MessageIDs
	if len(ids) == 0 {
		ids = slices.Collect(maps.Keys(s.counts))
	}
	var out []webhook.MessageCounts
	for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
		counts := s.counts[id]
		if counts == nil {
			continue
		}
		if c := (webhook.MessageCounts{MessageID: id, States: counts.positive()}); len(c.States) > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

// CountHosts implements [webhook.Inspector] by a scan of the log.
func (s *Store) CountHosts(ctx context.Context, p webhook.CountHostsParams) ([]webhook.HostStats, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	hosts := map[string]*webhook.HostStats{}
	for i := range s.attempts.len() {
		a := s.attempts.at(i)
		if a.Host == "" || a.Time.Before(p.Since) {
			continue
		}
		h := hosts[a.Host]
		if h == nil {
			h = &webhook.HostStats{Host: a.Host}
			hosts[a.Host] = h
		}
		h.Attempts++
		if a.Outcome == webhook.Succeeded {
			h.Succeeded++
		}
		if a.Time.After(h.LastAttempt) {
			h.LastAttempt = a.Time
		}
	}
	out := make([]webhook.HostStats, 0, len(hosts))
	for _, host := range slices.Sorted(maps.Keys(hosts)) {
		out = append(out, *hosts[host])
	}
	return out, nil
}

// ReplayJobs implements [webhook.Inspector]: it looks up the jobs of p.IDs, if any, and
// otherwise scans the jobs.
func (s *Store) ReplayJobs(ctx context.Context, p webhook.ReplayJobsParams) (int, error) {
	if err := p.Check(); err != nil {
		return 0, err
	}
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for r := range s.candidates(&webhook.JobFilter{IDs: p.IDs}, nil) {
		j := &r.job
		if !j.State.Ended() || !p.Query.Match(j) {
			continue
		}
		n++
		if p.DryRun {
			continue
		}
		s.setState(r, webhook.JobScheduled)
		j.DueAt, j.ReplayFrom = p.Now, j.Attempts+1
		j.LeaseOwner, j.LeaseExpiresAt = "", time.Time{}
		s.indexUnless(r)
		s.schedule(r, j.DueAt)
	}
	return n, nil
}
