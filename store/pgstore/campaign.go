package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// campaignColumns are the columns scanCampaign reads, in order.
const campaignColumns = `message_id, message_version, run, state, started_at, occurrence, after_user,
	next_at, lease_owner, lease_expires_at`

// scanCampaign reads a campaign from campaignColumns.
func scanCampaign(row pgx.Row) (*webhook.Campaign, error) {
	c := new(webhook.Campaign)
	var next, expires *time.Time
	if err := row.Scan(&c.MessageID, &c.MessageVersion, &c.Run, &c.State, &c.StartedAt, &c.Occurrence,
		&c.After, &next, &c.LeaseOwner, &expires); err != nil {
		return nil, err
	}
	if next != nil {
		c.NextAt = *next
	}
	if expires != nil {
		c.LeaseExpiresAt = *expires
	}
	return c, nil
}

// PutCampaign implements [webhook.CampaignStore]. It notifies listeners (see
// [Store.Notifications]) if c has a fan-out to do, so that any Sender may start it at once.
func (s *Store) PutCampaign(ctx context.Context, c *webhook.Campaign) error {
	_, err := s.db.Exec(ctx, `WITH saved AS (
		INSERT INTO webhook_campaigns (`+campaignColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (message_id) DO UPDATE SET message_version = excluded.message_version,
			run = excluded.run, state = excluded.state, started_at = excluded.started_at,
			occurrence = excluded.occurrence, after_user = excluded.after_user, next_at = excluded.next_at,
			lease_owner = excluded.lease_owner, lease_expires_at = excluded.lease_expires_at
		RETURNING state, next_at
	)
	SELECT pg_notify('`+channel+`', current_schema()) FROM saved WHERE state = 'running' AND next_at IS NOT NULL`,
		c.MessageID, c.MessageVersion, c.Run, string(c.State), c.StartedAt, c.Occurrence, c.After,
		nullTime(c.NextAt), c.LeaseOwner, nullTime(c.LeaseExpiresAt))
	return wrap("put campaign", err)
}

// Campaign implements [webhook.CampaignStore].
func (s *Store) Campaign(ctx context.Context, messageID string) (*webhook.Campaign, error) {
	c, err := scanCampaign(s.db.QueryRow(ctx, `SELECT `+campaignColumns+` FROM webhook_campaigns WHERE message_id = $1`, messageID))
	return c, wrap("campaign", err)
}

// SetCampaignState implements [webhook.CampaignStore]. It notifies listeners (see
// [Store.Notifications]) if it leaves the campaign running with a fan-out to do.
func (s *Store) SetCampaignState(ctx context.Context, messageID string, state webhook.CampaignState) (*webhook.Campaign, error) {
	c, err := scanCampaign(s.db.QueryRow(ctx, `UPDATE webhook_campaigns
		SET state = CASE state WHEN 'cancelled' THEN state ELSE $2 END
		WHERE message_id = $1
		RETURNING `+campaignColumns, messageID, string(state)))
	if err == nil && c.State == webhook.CampaignRunning && !c.NextAt.IsZero() {
		err = s.wakeSenders(ctx)
	}
	return c, wrap("set campaign state", err)
}

// LeaseCampaign implements [webhook.CampaignStore]. It locks the campaign it leases with FOR
// UPDATE SKIP LOCKED, so Senders leasing at once, in any process, take different campaigns.
func (s *Store) LeaseCampaign(ctx context.Context, now time.Time, owner string, lease time.Duration) (*webhook.Campaign, error) {
	c, err := scanCampaign(s.db.QueryRow(ctx, `WITH due AS (
		SELECT message_id AS due_id FROM webhook_campaigns
		WHERE state = 'running' AND next_at IS NOT NULL AND next_at <= $1
			AND (lease_owner = '' OR lease_expires_at IS NULL OR lease_expires_at <= $1)
		ORDER BY next_at, message_id
		LIMIT 1
		FOR UPDATE SKIP LOCKED
	)
	UPDATE webhook_campaigns c SET lease_owner = $2, lease_expires_at = $3
	FROM due WHERE c.message_id = due.due_id
	RETURNING `+campaignColumns, now, owner, now.Add(lease)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return c, wrap("lease campaign", err)
}

// Checkpoint implements [webhook.CampaignStore].
func (s *Store) Checkpoint(ctx context.Context, c *webhook.Campaign) (*webhook.Campaign, error) {
	saved, err := scanCampaign(s.db.QueryRow(ctx, `UPDATE webhook_campaigns
		SET message_version = $2, occurrence = $3, after_user = $4, next_at = $5,
			lease_owner = '', lease_expires_at = NULL
		WHERE message_id = $1 AND lease_owner <> '' AND lease_owner = $6
		RETURNING `+campaignColumns,
		c.MessageID, c.MessageVersion, c.Occurrence, c.After, nullTime(c.NextAt), c.LeaseOwner))
	if !errors.Is(err, pgx.ErrNoRows) {
		return saved, wrap("checkpoint", err)
	}
	// Campaigns are never deleted: one that was there is there still.
	var exists bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT FROM webhook_campaigns WHERE message_id = $1)`, c.MessageID).Scan(&exists); err != nil {
		return nil, wrap("checkpoint", err)
	}
	if !exists {
		return nil, fmt.Errorf("pgstore: checkpoint %q: %w", c.MessageID, webhook.ErrNotFound)
	}
	return nil, fmt.Errorf("pgstore: checkpoint %q: %w", c.MessageID, webhook.ErrLeaseLost)
}

// NextCampaignDue implements [webhook.CampaignStore].
func (s *Store) NextCampaignDue(ctx context.Context) (time.Time, bool, error) {
	var next *time.Time
	err := s.db.QueryRow(ctx, `SELECT min(greatest(next_at, CASE WHEN lease_owner <> '' THEN lease_expires_at END))
		FROM webhook_campaigns WHERE state = 'running' AND next_at IS NOT NULL`).Scan(&next)
	if err != nil || next == nil {
		return time.Time{}, false, wrap("next campaign due", err)
	}
	return *next, true, nil
}

// HoldJobs implements [webhook.CampaignStore]. Held jobs have no ready_at, so Claim and
// NextDue do not see them.
func (s *Store) HoldJobs(ctx context.Context, messageID string) (int, error) {
	n, err := s.moveJobs(ctx, messageID, webhook.JobScheduled, webhook.JobHeld)
	return n, wrap("hold jobs", err)
}

// ReleaseJobs implements [webhook.CampaignStore]. It notifies listeners (see
// [Store.Notifications]) if it released any job, on commit, since they may be due.
func (s *Store) ReleaseJobs(ctx context.Context, messageID string) (int, error) {
	n, err := s.moveJobs(ctx, messageID, webhook.JobHeld, webhook.JobScheduled)
	if err == nil && n > 0 {
		err = s.wakeSenders(ctx)
	}
	return n, wrap("release jobs", err)
}

// moveJobs moves the jobs of a message from one state to another and returns how many it
// moved. The states are written into the statement, not passed as parameters, so that the
// planner can use the partial index on pending jobs by message.
func (s *Store) moveJobs(ctx context.Context, messageID string, from, to webhook.JobState) (int, error) {
	tag, err := s.db.Exec(ctx, `UPDATE webhook_jobs SET state = '`+string(to)+`'
		WHERE message_id = $1 AND state = '`+string(from)+`'`, messageID)
	return int(tag.RowsAffected()), err
}

// wakeSenders notifies listeners (see [Store.Notifications]) that work may be due, when the
// change just made commits: at once on the pool, with the transaction through a view.
func (s *Store) wakeSenders(ctx context.Context) error {
	_, err := s.db.Exec(ctx, `SELECT pg_notify('`+channel+`', current_schema())`)
	return err
}

// EventsByQuarterHour implements [webhook.CampaignStore]. It reads the user's events through
// the index on (user_id, name, time), so its cost grows with all of the user's events, not
// only those of the window. Both bounds are rounded up to the microsecond, as stored times
// are whole microseconds (see ceilMicro).
func (s *Store) EventsByQuarterHour(ctx context.Context, userID string, since, until time.Time) ([96]int, error) {
	var out [96]int
	rows, err := s.db.Query(ctx, `SELECT quarter, count(*) FROM (
			SELECT (extract(hour FROM time AT TIME ZONE 'UTC') * 4
				+ floor(extract(minute FROM time AT TIME ZONE 'UTC') / 15))::int AS quarter
			FROM webhook_events WHERE user_id = $1 AND time >= $2 AND time < $3
		) q
		GROUP BY quarter`, userID, ceilMicro(since), ceilMicro(until))
	if err != nil {
		return out, wrap("events by quarter hour", err)
	}
	var quarter, n int
	_, err = pgx.ForEachRow(rows, []any{&quarter, &n}, func() error {
		out[quarter] = n
		return nil
	})
	return out, wrap("events by quarter hour", err)
}
