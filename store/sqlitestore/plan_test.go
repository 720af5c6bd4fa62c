package sqlitestore

import (
	"strings"
	"testing"
)

// TestQueryPlans checks that the queries the Sender makes for every job or audience
// criterion read an index, not a table: their cost must not grow with the log or history.
func TestQueryPlans(t *testing.T) {
	_, db := openMigrated(t)
	for _, tt := range []struct {
		name, query, index string
		args               []any
	}{
		{"Claim, if any is due", anyDueSQL, "USING COVERING INDEX jobs_ready (ready_at<?)", []any{0}},
		{"Claim", `SELECT id, ready_at` + firstDue, "USING COVERING INDEX jobs_ready (ready_at<?)", []any{0, 1}},
		{"NextDue", nextDueSQL, "USING COVERING INDEX jobs_ready", nil},
		{"CountSent", countSentSQL, "INDEX attempts_sent (user_id=? AND time>?)", []any{"u", 0, ""}},
		{"EventStats count", `SELECT count(*), min(time), max(time)` + eventWindow, "USING COVERING INDEX events_user_name_time", []any{"u", "e", 0, 1}},
		{"EventStats rows", `SELECT time, params` + eventWindow, "USING INDEX events_user_name_time", []any{"u", "e", 0, 1}},
		{"NextCampaignDue", nextCampaignDueSQL, "USING INDEX campaigns_due", nil},
		{"EventsByQuarterHour", quarterHoursSQL, "USING COVERING INDEX events_user_name_time", []any{"u", 0, 1}},
	} {
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
		if got := strings.Join(plan, "; "); !strings.Contains(got, tt.index) {
			t.Errorf("%s: query plan %q, want it %s", tt.name, got, tt.index)
		}
	}
}
