package webhook_test

import (
	"context"
	"time"

	"github.com/hookline/webhook"
)

// Reads of a Store that tests make, in the shape of one call each.

// getJob returns the job with the given ID, or ErrNotFound.
func getJob(ctx context.Context, store webhook.JobStore, id string) (*webhook.Job, error) {
	jobs, err := store.Jobs(ctx, webhook.JobQuery{JobFilter: webhook.JobFilter{IDs: []string{id}}})
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, webhook.ErrNotFound
	}
	return jobs[0], nil
}

// getUser returns the user with the given ID, or ErrNotFound.
func getUser(ctx context.Context, store webhook.UserStore, id string) (webhook.User, error) {
	users, err := store.Users(ctx, webhook.UserQuery{IDs: []string{id}})
	if err != nil {
		return webhook.User{}, err
	}
	if len(users) == 0 {
		return webhook.User{}, webhook.ErrNotFound
	}
	return users[0], nil
}

// putUser saves u, replacing any user with its ID.
func putUser(ctx context.Context, store webhook.UserStore, u webhook.User) error {
	return store.PutUsers(ctx, webhook.PutUsersParams{Users: []webhook.UserUpdate{{User: u, Replace: true}}})
}

// getCampaign returns the campaign of a message, or ErrNotFound.
func getCampaign(ctx context.Context, store webhook.CampaignStore, messageID string) (*webhook.Campaign, error) {
	cs, err := store.Campaigns(ctx, webhook.CampaignQuery{MessageIDs: []string{messageID}})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, webhook.ErrNotFound
	}
	return cs[0], nil
}

// nextDue returns when the next job is due: the earliest DueAt of a scheduled job or
// LeaseExpiresAt of a running one, and false if there is none.
func nextDue(ctx context.Context, store webhook.JobStore) (time.Time, bool, error) {
	jobs, err := store.Jobs(ctx, webhook.JobQuery{States: []webhook.JobState{webhook.JobScheduled, webhook.JobRunning}})
	if err != nil {
		return time.Time{}, false, err
	}
	var next time.Time
	for _, j := range jobs {
		at := j.DueAt
		if j.State == webhook.JobRunning {
			at = j.LeaseExpiresAt
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero(), nil
}

// nextCampaignDue returns when the next campaign fan-out is due, and false if none is to
// come.
func nextCampaignDue(ctx context.Context, store webhook.Store) (time.Time, bool, error) {
	msgs, err := store.Messages(ctx, webhook.MessageQuery{Limit: 1 << 20})
	if err != nil {
		return time.Time{}, false, err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	cs, err := store.Campaigns(ctx, webhook.CampaignQuery{MessageIDs: ids})
	if err != nil {
		return time.Time{}, false, err
	}
	var next time.Time
	for _, c := range cs {
		if c.State != webhook.CampaignRunning || c.NextAt.IsZero() {
			continue
		}
		at := c.NextAt
		if c.LeaseOwner != "" && c.LeaseExpiresAt.After(at) {
			at = c.LeaseExpiresAt
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero(), nil
}
