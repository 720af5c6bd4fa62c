package sqlitestore

import (
	"context"
	"database/sql"
	"math"
	"slices"
	"strings"

	"github.com/hookline/webhook"
)

// campaignColumns are the columns scanCampaign reads, in order.
const campaignColumns = `message_id, message_version, run, state, started_at, occurrence, after_user,
	next_at, lease_owner, lease_expires_at, trace, rev`

// scanCampaign reads the campaignColumns of one row.
func scanCampaign(sc scanner) (*webhook.Campaign, error) {
	var c webhook.Campaign
	var started, next, expires sql.NullInt64
	var trace sql.NullString
	err := sc.Scan(&c.MessageID, &c.MessageVersion, &c.Run, &c.State, &started, &c.Occurrence, &c.After,
		&next, &c.LeaseOwner, &expires, &trace, &c.Rev)
	if err != nil {
		return nil, err
	}
	c.StartedAt, c.NextAt, c.LeaseExpiresAt = fromNanos(started), fromNanos(next), fromNanos(expires)
	if err := unmarshalNull(trace, &c.Trace); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutCampaign implements [webhook.CampaignStore]: one statement inserts a new campaign, or
// updates the campaign if its rev is c.Rev.
func (s *Store) PutCampaign(ctx context.Context, c *webhook.Campaign) error {
	trace, err := marshalNull(c.Trace, len(c.Trace) == 0)
	if err != nil {
		return wrap("put campaign "+c.MessageID, err)
	}
	args := []any{c.MessageID, c.MessageVersion, c.Run, c.State, nanos(c.StartedAt), c.Occurrence, c.After,
		nanos(c.NextAt), c.LeaseOwner, nanos(c.LeaseExpiresAt), c.Rev, trace}
	query := `INSERT INTO webhook_campaigns (` + campaignColumns + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?12, 1)
		ON CONFLICT DO NOTHING`
	if c.Rev != 0 {
		query = `UPDATE webhook_campaigns SET message_version = ?2, run = ?3, state = ?4, started_at = ?5, occurrence = ?6,
				after_user = ?7, next_at = ?8, lease_owner = ?9, lease_expires_at = ?10, trace = ?12, rev = rev + 1
			WHERE message_id = ?1 AND rev = ?11`
	}
	n, err := s.execWrite(ctx, query, args...)
	if err == nil && n == 0 {
		err = webhook.ErrConflict
	}
	if err != nil {
		return wrap("put campaign "+c.MessageID, err)
	}
	c.Rev++
	return nil
}

// Campaigns implements [webhook.CampaignStore].
func (s *Store) Campaigns(ctx context.Context, q webhook.CampaignQuery) ([]*webhook.Campaign, error) {
	if len(q.MessageIDs) == 0 {
		return nil, nil
	}
	var cs []*webhook.Campaign
	err := inLists(q.MessageIDs, func(list string, args []any) error {
		rows, err := s.read(ctx, `SELECT `+campaignColumns+` FROM webhook_campaigns WHERE message_id IN `+list+` ORDER BY message_id`, args...)
		if err == nil {
			cs, err = collect(cs, rows, scanCampaign)
		}
		return err
	})
	if err != nil {
		return nil, wrap("campaigns", err)
	}
	if len(q.MessageIDs) > maxIn { // found in several reads, each in order
		slices.SortFunc(cs, func(a, b *webhook.Campaign) int { return strings.Compare(a.MessageID, b.MessageID) })
		cs = slices.CompactFunc(cs, func(a, b *webhook.Campaign) bool { return a.MessageID == b.MessageID })
	}
	return cs, nil
}

// nextFanOutSQL selects when the first fan-out is due: the next_at of a running campaign,
// or its lease's expiry if that is later. The literal 'running' is
// [webhook.CampaignRunning], as in the index webhook_campaigns_due: given as a parameter,
// it would make SQLite prepare the statement again on every run, to learn whether the
// partial index applies to the value.
const nextFanOutSQL = `SELECT min(max(next_at, CASE WHEN lease_owner <> '' THEN coalesce(lease_expires_at, next_at) ELSE next_at END))
	FROM webhook_campaigns WHERE state = 'running' AND next_at IS NOT NULL`

// LeaseCampaign implements [webhook.CampaignStore]. A read learns whether a fan-out is due,
// and if one is, one statement picks the campaign and leases it, so that two owners never
// lease it at once.
func (s *Store) LeaseCampaign(ctx context.Context, p webhook.LeaseCampaignParams) (webhook.LeaseCampaignResult, error) {
	var res webhook.LeaseCampaignResult
	now := bound(p.Now, math.MinInt64)
	var next sql.NullInt64
	if err := s.readValues(ctx, nextFanOutSQL, nil, &next); err != nil {
		return res, wrap("lease campaign", err)
	}
	if !next.Valid || next.Int64 > now {
		res.NextDue = fromNanos(next)
		return res, nil
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res = webhook.LeaseCampaignResult{}
		rows, err := s.stmt(ctx, tx, `UPDATE OR IGNORE webhook_campaigns SET lease_owner = ?1, lease_expires_at = ?2, rev = rev + 1
			WHERE message_id = (SELECT message_id FROM webhook_campaigns
				WHERE state = 'running' AND next_at IS NOT NULL AND next_at <= ?3
					AND (lease_owner = '' OR lease_expires_at IS NULL OR lease_expires_at <= ?3)
				ORDER BY next_at, message_id LIMIT 1)
			RETURNING `+campaignColumns).QueryContext(ctx, p.Owner, bound(p.Now.Add(p.Lease), math.MinInt64), now)
		if err != nil {
			return err
		}
		cs, err := collect(nil, rows, scanCampaign)
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			res.Campaign = cs[0]
			return nil
		}
		next = sql.NullInt64{}
		err = s.stmt(ctx, tx, nextFanOutSQL).QueryRowContext(ctx).Scan(&next)
		res.NextDue = fromNanos(next)
		return err
	})
	if err != nil {
		return webhook.LeaseCampaignResult{}, wrap("lease campaign", err)
	}
	return res, nil
}
