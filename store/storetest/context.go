package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

var contextRules = []rule{
	{"CancelledContextIsReturnedAndChangesNothing", testCancelledContext},
}

func testCancelledContext(t *testing.T, s webhook.Store) {
	// Something for every method to change: a user, a message, a campaign due now, a job
	// due now, one running and an attempt.
	putUsers(t, s, webhook.User{ID: "u1", Email: "before@example.com"})
	putMessages(t, s, message("m1", "e"))
	putCampaigns(t, s, campaign("m1", at(0)))
	enqueue(t, s, -time.Second, 0)
	running := claim(t, s, at(-time.Second), "w", 1)[0]
	record(t, s, attempt("a1", 1, at(-time.Hour)))
	jobsBefore := jobs(t, s, webhook.JobQuery{})

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e := event("e1", "u1", "e", 0)
	j := job("j9", "k9", at(0))
	finished := *running
	finished.State = webhook.JobSucceeded
	calls := map[string]error{
		"PutUsers": s.PutUsers(ctx, webhook.PutUsersParams{Now: at(0), Users: []webhook.UserUpdate{{User: webhook.User{ID: "u1", Email: "after@example.com"}}}}),
		"Users": func() error {
			_, err := s.Users(ctx, webhook.UserQuery{IDs: []string{"u1"}})
			return err
		}(),
		"Events":     func() error { _, err := s.Events(ctx, webhook.EventQuery{UserID: "u1"}); return err }(),
		"PutMessage": s.PutMessage(ctx, message("m1", "")),
		"Messages": func() error {
			_, err := s.Messages(ctx, webhook.MessageQuery{Event: "e"})
			return err
		}(),
		"DeleteMessage": s.DeleteMessage(ctx, "m1"),
		"Enqueue": func() error {
			_, err := s.Enqueue(ctx, webhook.EnqueueParams{Events: []webhook.Event{e}, Jobs: []*webhook.Job{j}})
			return err
		}(),
		"Claim": func() error {
			_, err := s.Claim(ctx, webhook.ClaimParams{Now: at(time.Hour), Owner: "w2", Lease: time.Minute, Limit: 10})
			return err
		}(),
		"Finish": func() error {
			_, err := s.Finish(ctx, webhook.FinishParams{Jobs: []webhook.Finished{{Job: &finished, Attempt: attempt(running.ID, 1, at(0))}}})
			return err
		}(),
		"UpdateJobs": func() error {
			_, err := s.UpdateJobs(ctx, webhook.UpdateJobsParams{Filter: webhook.JobFilter{UserID: "u1"}, From: pending, To: webhook.JobCancelled, Now: at(0)})
			return err
		}(),
		"Jobs":     func() error { _, err := s.Jobs(ctx, webhook.JobQuery{}); return err }(),
		"Attempts": func() error { _, err := s.Attempts(ctx, webhook.AttemptQuery{}); return err }(),
		"PutCampaign": func() error {
			c := campaign("m2", at(0))
			return s.PutCampaign(ctx, c)
		}(),
		"Campaigns": func() error {
			_, err := s.Campaigns(ctx, webhook.CampaignQuery{MessageIDs: []string{"m1"}})
			return err
		}(),
		"LeaseCampaign": func() error {
			_, err := s.LeaseCampaign(ctx, webhook.LeaseCampaignParams{Now: at(time.Hour), Owner: "w", Lease: time.Minute})
			return err
		}(),
	}
	if p, ok := s.(webhook.AttemptPruner); ok {
		_, calls["DeleteAttempts"] = p.DeleteAttempts(ctx, at(0))
	}
	for name, err := range calls {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error wrapping context.Canceled", name, err)
		}
	}

	// Nothing changed.
	if u := getUser(t, s, "u1"); u.Email != "before@example.com" {
		t.Errorf("PutUsers with a cancelled context saved the user: Users returns %+v", u)
	}
	if es := events(t, s, webhook.EventQuery{UserID: "u1"}); len(es) != 0 {
		t.Errorf("Enqueue with a cancelled context saved events %v", eventIDs(es))
	}
	checkMessages(t, s, "PutMessage or DeleteMessage with a cancelled context changed the message", webhook.MessageQuery{Limit: 10}, "m1@1")
	for _, want := range jobsBefore {
		checkJob(t, s, "Enqueue, Claim, Finish or UpdateJobs with a cancelled context changed a job", want)
	}
	if got := jobs(t, s, byID("j9")); len(got) != 0 {
		t.Errorf("Enqueue with a cancelled context saved job j9")
	}
	if got := attemptIDs(attempts(t, s, webhook.AttemptQuery{})); len(got) != 1 {
		t.Errorf("Finish, UpdateJobs or DeleteAttempts with a cancelled context changed the attempt log: %v, want [a1#1]", got)
	}
	if c := getCampaign(t, s, "m1"); c == nil || c.LeaseOwner != "" {
		t.Errorf("LeaseCampaign with a cancelled context leased the campaign: %+v", c)
	}
	if c := getCampaign(t, s, "m2"); c != nil {
		t.Errorf("PutCampaign with a cancelled context saved the campaign: %+v", c)
	}
}
