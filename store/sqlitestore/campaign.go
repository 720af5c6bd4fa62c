package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookline/webhook"
)

// campaignColumns are the columns scanCampaign reads, in order.
const campaignColumns = `message_id, message_version, run, state, started_at, occurrence, after_user,
	next_at, lease_owner, lease_expires_at`

// scanCampaign reads the campaignColumns of one row.
func scanCampaign(sc scanner) (*webhook.Campaign, error) {
	var c webhook.Campaign
	var started, next, expires sql.NullInt64
	err := sc.Scan(&c.MessageID, &c.MessageVersion, &c.Run, &c.State, &started, &c.Occurrence, &c.After,
		&next, &c.LeaseOwner, &expires)
	if err != nil {
		return nil, err
	}
	c.StartedAt, c.NextAt, c.LeaseExpiresAt = fromNanos(started), fromNanos(next), fromNanos(expires)
	return &c, nil
}

// PutCampaign implements [webhook.CampaignStore].
func (s *Store) PutCampaign(ctx context.Context, c *webhook.Campaign) error {
	_, err := s.execWrite(ctx, `INSERT OR REPLACE INTO campaigns (`+campaignColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.MessageID, c.MessageVersion, c.Run, c.State, nanos(c.StartedAt), c.Occurrence, c.After,
		nanos(c.NextAt), c.LeaseOwner, nanos(c.LeaseExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlitestore: put campaign %q: %w", c.MessageID, err)
	}
	return nil
}

// Campaign implements [webhook.CampaignStore].
func (s *Store) Campaign(ctx context.Context, messageID string) (*webhook.Campaign, error) {
	c, err := scanCampaign(s.queryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE message_id = ?`, messageID))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: campaign %q: %w", messageID, notFound(err))
	}
	return c, nil
}

// SetCampaignState implements [webhook.CampaignStore]: one statement sets the state unless
// the campaign is cancelled and returns the campaign.
func (s *Store) SetCampaignState(ctx context.Context, messageID string, state webhook.CampaignState) (*webhook.Campaign, error) {
	c, err := s.updateCampaign(ctx, `UPDATE campaigns SET state = CASE WHEN state = ?1 THEN state ELSE ?2 END
		WHERE message_id = ?3 RETURNING `+campaignColumns, webhook.CampaignCancelled, state, messageID)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: set campaign %q %s: %w", messageID, state, notFound(err))
	}
	return c, nil
}

// LeaseCampaign implements [webhook.CampaignStore]. One statement picks the campaign and
// leases it, so two owners never lease it at once.
func (s *Store) LeaseCampaign(ctx context.Context, now time.Time, owner string, lease time.Duration) (*webhook.Campaign, error) {
	c, err := s.updateCampaign(ctx, `UPDATE campaigns SET lease_owner = ?1, lease_expires_at = ?2
		WHERE message_id = (SELECT message_id FROM campaigns
			WHERE state = 'running' AND next_at IS NOT NULL AND next_at <= ?3
				AND (lease_owner = '' OR lease_expires_at IS NULL OR lease_expires_at <= ?3)
			ORDER BY next_at, message_id LIMIT 1)
		RETURNING `+campaignColumns, owner, now.Add(lease).UnixNano(), now.UnixNano())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: lease campaign: %w", err)
	}
	return c, nil
}

// Checkpoint implements [webhook.CampaignStore].
func (s *Store) Checkpoint(ctx context.Context, c *webhook.Campaign) (*webhook.Campaign, error) {
	saved, err := s.updateCampaign(ctx, `UPDATE campaigns
		SET message_version = ?, occurrence = ?, after_user = ?, next_at = ?, lease_owner = '', lease_expires_at = NULL
		WHERE message_id = ? AND lease_owner <> '' AND lease_owner = ?
		RETURNING `+campaignColumns, c.MessageVersion, c.Occurrence, c.After, nanos(c.NextAt), c.MessageID, c.LeaseOwner)
	if errors.Is(err, sql.ErrNoRows) {
		// Campaigns are never deleted: if it exists now, it existed when the update missed.
		err = webhook.ErrLeaseLost
		if _, err2 := s.Campaign(ctx, c.MessageID); err2 != nil {
			return nil, err2
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: checkpoint campaign %q: %w", c.MessageID, err)
	}
	return saved, nil
}

// nextCampaignDueSQL selects when the first running campaign's fan-out is due. The literal
// 'running' is [webhook.CampaignRunning], as in the index campaigns_due: given as a
// parameter, it would make SQLite prepare the statement again on every run, to learn
// whether the partial index applies to the value.
const nextCampaignDueSQL = `SELECT min(max(next_at, CASE WHEN lease_owner <> '' THEN coalesce(lease_expires_at, next_at) ELSE next_at END))
	FROM campaigns WHERE state = 'running' AND next_at IS NOT NULL`

// NextCampaignDue implements [webhook.CampaignStore].
func (s *Store) NextCampaignDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := s.queryRow(ctx, nextCampaignDueSQL).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlitestore: next campaign due: %w", err)
	}
	return fromNanos(next), next.Valid, nil
}

// HoldJobs implements [webhook.CampaignStore]: held jobs keep their due_at but have no
// ready_at, so Claim and NextDue do not see them.
func (s *Store) HoldJobs(ctx context.Context, messageID string) (int, error) {
	n, err := s.execWrite(ctx, `UPDATE jobs SET state = ?1, ready_at = NULL WHERE message_id = ?3 AND state = ?2`,
		webhook.JobHeld, webhook.JobScheduled, messageID)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: hold jobs of %q: %w", messageID, err)
	}
	return n, nil
}

// ReleaseJobs implements [webhook.CampaignStore].
func (s *Store) ReleaseJobs(ctx context.Context, messageID string) (int, error) {
	n, err := s.execWrite(ctx, `UPDATE jobs SET state = ?1, ready_at = coalesce(due_at, ?4) WHERE message_id = ?3 AND state = ?2`,
		webhook.JobScheduled, webhook.JobHeld, messageID, readyAt(sql.NullInt64{}))
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: release jobs of %q: %w", messageID, err)
	}
	return n, nil
}

// updateCampaign runs query, an UPDATE that returns campaignColumns, as one of the store's
// writes and returns the campaign it updated, or sql.ErrNoRows.
func (s *Store) updateCampaign(ctx context.Context, query string, args ...any) (*webhook.Campaign, error) {
	var c *webhook.Campaign
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		c, err = scanCampaign(s.queryRowTx(ctx, tx, query, args...))
		return err
	})
	return c, err
}

// quarterHoursSQL counts the events of user ?1 with a time at or after ?2 and before ?3 by
// quarter hour of the UTC day (times before 1970 are negative: the modulo is made positive).
const quarterHoursSQL = `SELECT ((time % 86400000000000) + 86400000000000) % 86400000000000 / 900000000000 AS q,
	count(*) FROM events WHERE user_id = ?1 AND time >= ?2 AND time < ?3 GROUP BY q`

// EventsByQuarterHour implements [webhook.CampaignStore]. SQLite groups the user's events by
// quarter hour of the UTC day, reading the index on (user_id, name, time) only.
func (s *Store) EventsByQuarterHour(ctx context.Context, userID string, since, until time.Time) ([96]int, error) {
	var out [96]int
	rows, err := s.query(ctx, quarterHoursSQL, userID, since.UnixNano(), until.UnixNano())
	if err != nil {
		return out, fmt.Errorf("sqlitestore: events by quarter hour of %q: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var q, n int
		if err := rows.Scan(&q, &n); err != nil {
			return out, fmt.Errorf("sqlitestore: events by quarter hour of %q: %w", userID, err)
		}
		out[q] = n
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("sqlitestore: events by quarter hour of %q: %w", userID, err)
	}
	return out, nil
}
