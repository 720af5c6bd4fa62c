package sqlitestore

import (
	"strings"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

// TestQueryPlans checks that the queries the Sender makes for every job, trigger, cap or
// audience criterion read an index, not a table: their cost must not grow with the queue,
// the log or the history.
func TestQueryPlans(t *testing.T) {
	_, db := openMigrated(t)
	at := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	type plan struct {
		name, query, index string
		args               []any
	}
	plans := []plan{
		{"Claim, if any is due", nextReadySQL, "USING COVERING INDEX webhook_jobs_ready", nil},
		{"Claim, the jobs due", readySQL, "USING COVERING INDEX webhook_jobs_ready", []any{1}},
		{"Claim, the lease", claimSQL, "USING COVERING INDEX webhook_jobs_ready (ready_at<?)", []any{0, 1, "running", "w", 2}},
		{"Finish", finishSQL + rowsOf(2, finishRow) + finishEnd, "SEARCH webhook_jobs USING INDEX sqlite_autoindex_webhook_jobs_1 (id=?)",
			[]any{"j1", "w", "succeeded", 1, nil, nil, nil, "j2", "w", "succeeded", 1, nil, nil, nil, "running"}},
		{"LeaseCampaign, if any is due", nextFanOutSQL, "USING INDEX webhook_campaigns_due", nil},
		{"QueueStats", pendingSQL, "SCAN webhook_job_counts", nil},
		{"CountHosts", countHostsSQL, "USING COVERING INDEX webhook_attempts_time (time>?)", []any{0}},
		{"Messages of an event", `SELECT v.data` + currentSQL + ` WHERE m.trigger_event = ? ORDER BY m.id`,
			"SEARCH m USING INDEX webhook_messages_trigger (trigger_event=?)", []any{"signup"}},
	}
	// The jobs a trigger cancels (Unless).
	unless := webhook.JobFilter{UserID: "u", Unless: "purchase", CreatedBefore: at}
	if err := forJobs(&unless, []webhook.JobState{webhook.JobScheduled, webhook.JobHeld}, func(where string, args []any) error {
		plans = append(plans, plan{"UpdateJobs of a trigger", `SELECT id FROM webhook_jobs WHERE ` + where,
			"USING INDEX webhook_jobs_user (user_id=?)", args})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The pages of the console (see Inspector): lists newest first from an index, no sort.
	after := webhook.FindJobsParams{AfterCreatedAt: at, AfterID: "j", Limit: 50}
	for _, tt := range []struct {
		name, index string
		q           webhook.JobsQuery
	}{
		{"FindJobs", "SCAN webhook_jobs USING INDEX webhook_jobs_created", webhook.JobsQuery{}},
		{"FindJobs of a message", "USING INDEX webhook_jobs_message (message_id=?)", webhook.JobsQuery{MessageID: "m"}},
		{"FindJobs of a user", "USING INDEX webhook_jobs_user (user_id=?)", webhook.JobsQuery{UserID: "u"}},
		{"FindJobs that failed", "USING INDEX webhook_jobs_created", webhook.JobsQuery{States: []webhook.JobState{webhook.JobFailed}}},
		{"FindJobs of a message that failed", "USING INDEX webhook_jobs_message (message_id=?)",
			webhook.JobsQuery{MessageID: "m", States: []webhook.JobState{webhook.JobFailed}}},
	} {
		p := after
		p.Query = tt.q
		query, args := findJobsSQL(&p)
		plans = append(plans, plan{tt.name, query, tt.index, args})
	}
	for _, tt := range []struct {
		name, index string
		q           webhook.AttemptLogQuery
	}{
		{"FindAttempts", "USING INDEX webhook_attempts_time (time<?)", webhook.AttemptLogQuery{}},
		{"FindAttempts of a job", "USING INDEX webhook_attempts_job (job_id=? AND time<?)", webhook.AttemptLogQuery{JobID: "j"}},
		{"FindAttempts that failed", "USING INDEX webhook_attempts_outcome (outcome=?",
			webhook.AttemptLogQuery{Outcomes: []webhook.Outcome{webhook.Failed}}},
	} {
		query, args := findAttemptsSQL(&webhook.FindAttemptsParams{Query: tt.q, AfterTime: at, AfterSeq: 9, Limit: 50})
		plans = append(plans, plan{tt.name, query, tt.index, args})
	}
	caps, args := attemptsSQL(&webhook.AttemptQuery{UserID: "u", Outcomes: []webhook.Outcome{webhook.Succeeded}, Since: at, Brief: true})
	plans = append(plans, plan{"Attempts for caps", caps, "USING INDEX webhook_attempts_sent (user_id=? AND time>?)", args})
	byVariant, args := attemptsSQL(&webhook.AttemptQuery{MessageID: "m", Variant: "A"})
	plans = append(plans, plan{"Attempts of a variant", byVariant, "USING INDEX webhook_attempts_variant (message_id=? AND variant=?)", args})
	named, args := eventsSQL(&webhook.EventQuery{UserID: "u", Names: []string{"a", "b", "c"}, Since: at, Until: at})
	plans = append(plans, plan{"Events of some names", named,
		"USING INDEX webhook_events_name (user_id=? AND name=? AND time>? AND time<?)", args})
	all, args := eventsSQL(&webhook.EventQuery{UserID: "u", Since: at, Until: at})
	plans = append(plans, plan{"Events of all names", all, "USING INDEX webhook_events_time (user_id=? AND time>? AND time<?)", args})
	for _, tt := range plans {
		rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, tt.index) {
			t.Errorf("%s: query plan %q, want it %s", tt.name, got, tt.index)
		}
		if strings.HasPrefix(tt.name, "Find") && strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("%s: query plan %q sorts, want the index's order", tt.name, got)
		}
	}
}
