package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// campaignColumns are the columns scanCampaign reads, in order.
const campaignColumns = `message_id, message_version, run, state, started_at, occurrence, after_user,
	next_at, lease_owner, lease_expires_at, rev, trace`

// scanCampaign reads a campaign from campaignColumns.
func scanCampaign(row pgx.Row) (*webhook.Campaign, error) {
	c := new(webhook.Campaign)
	var next, expires *time.Time
	var trace []byte
	if err := row.Scan(&c.MessageID, &c.MessageVersion, &c.Run, &c.State, &c.StartedAt, &c.Occurrence,
		&c.After, &next, &c.LeaseOwner, &expires, &c.Rev, &trace); err != nil {
		return nil, err
	}
	c.NextAt, c.LeaseExpiresAt = timeOrZero(next), timeOrZero(expires)
	if err := unmarshal(trace, &c.Trace); err != nil {
		return nil, err
	}
	return c, nil
}

// PutCampaign implements [webhook.CampaignStore], in one statement: an update of the
// campaign at revision c.Rev, or, if c.Rev is 0, an insert of a campaign the Store does not
// hold. It notifies listeners (see [Store.Notifications]) if it saves a running campaign with
// a fan-out to do, so that any Sender may start it at once.
func (s *Store) PutCampaign(ctx context.Context, c *webhook.Campaign) error {
	trace, err := marshal(c.Trace)
	if err != nil {
		return wrap("put campaign", err)
	}
	var rev int64
	err = s.db.QueryRow(ctx, `WITH given AS (
		SELECT $1::text AS message_id, $2::int AS message_version, $3::int AS run, $4::text AS state,
			$5::timestamptz AS started_at, $6::text AS occurrence, $7::text AS after_user,
			$8::timestamptz AS next_at, $9::text AS lease_owner, $10::timestamptz AS lease_expires_at,
			$12::jsonb AS trace
	), updated AS (
		UPDATE webhook_campaigns c SET message_version = g.message_version, run = g.run, state = g.state,
			started_at = g.started_at, occurrence = g.occurrence, after_user = g.after_user,
			next_at = g.next_at, lease_owner = g.lease_owner, lease_expires_at = g.lease_expires_at,
			trace = g.trace, rev = c.rev + 1
		FROM given g WHERE c.message_id = g.message_id AND c.rev = $11::bigint AND $11::bigint <> 0
		RETURNING c.rev, c.state, c.next_at
	), inserted AS (
		INSERT INTO webhook_campaigns (message_id, message_version, run, state, started_at, occurrence,
			after_user, next_at, lease_owner, lease_expires_at, trace, rev)
		SELECT *, 1 FROM given WHERE $11::bigint = 0
		ON CONFLICT (message_id) DO NOTHING
		RETURNING rev, state, next_at
	), saved AS (
		SELECT * FROM updated UNION ALL SELECT * FROM inserted
	)
	SELECT rev FROM saved
	UNION ALL
	SELECT 0 FROM (`+notifySQL+`) notified
	WHERE EXISTS (SELECT FROM saved WHERE state = 'running' AND next_at IS NOT NULL)
	ORDER BY rev DESC LIMIT 1`,
		c.MessageID, c.MessageVersion, c.Run, string(c.State), c.StartedAt, c.Occurrence, c.After,
		nullTime(c.NextAt), c.LeaseOwner, nullTime(c.LeaseExpiresAt), c.Rev, trace).Scan(&rev)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return webhook.ErrConflict
	case err != nil:
		return wrap("put campaign", err)
	}
	c.Rev = rev
	return nil
}

// Campaigns implements [webhook.CampaignStore].
func (s *Store) Campaigns(ctx context.Context, q webhook.CampaignQuery) ([]*webhook.Campaign, error) {
	rows, err := s.db.Query(ctx, `SELECT `+campaignColumns+` FROM webhook_campaigns
		WHERE message_id = ANY ($1) ORDER BY message_id`, q.MessageIDs)
	if err != nil {
		return nil, wrap("campaigns", err)
	}
	cs, err := collect(rows, scanCampaign)
	return cs, wrap("campaigns", err)
}

// campaignsDueSQL returns when the first running campaign with a fan-out to do is due: its
// NextAt, or the expiry of its lease if that is later; NULL if there is none.
const campaignsDueSQL = `SELECT min(greatest(next_at, CASE WHEN lease_owner <> '' THEN lease_expires_at END))
	FROM webhook_campaigns WHERE state = 'running' AND next_at IS NOT NULL`

// LeaseCampaign implements [webhook.CampaignStore]. It reads when the first campaign is due,
// and returns that if it is not due yet, without a write: a Sender asks after every
// notification, most of which are for jobs. Otherwise it leases one in one more round trip,
// locking the campaign it leases with FOR UPDATE SKIP LOCKED, so Senders leasing at once, in
// any process, take different campaigns; its NextDue then leaves out the campaigns due now
// that others hold locked, which are theirs.
func (s *Store) LeaseCampaign(ctx context.Context, p webhook.LeaseCampaignParams) (webhook.LeaseCampaignResult, error) {
	var res webhook.LeaseCampaignResult
	var next *time.Time
	if err := s.db.QueryRow(ctx, campaignsDueSQL).Scan(&next); err != nil {
		return res, wrap("lease campaign", err)
	}
	if next == nil || next.After(p.Now) {
		res.NextDue = timeOrZero(next)
		return res, nil
	}
	err := s.batch(ctx, "", []stmt{{`WITH due AS (
		SELECT message_id AS due_id FROM webhook_campaigns
		WHERE state = 'running' AND next_at IS NOT NULL AND next_at <= $1
			AND (lease_owner = '' OR lease_expires_at IS NULL OR lease_expires_at <= $1)
		ORDER BY next_at, message_id
		LIMIT 1
		FOR UPDATE SKIP LOCKED
	)
	UPDATE webhook_campaigns c SET lease_owner = $2, lease_expires_at = $3, rev = c.rev + 1
	FROM due WHERE c.message_id = due.due_id
	RETURNING ` + campaignColumns, []any{p.Now, p.Owner, p.Now.Add(p.Lease)}},
		{`SELECT min(due) FROM (
			SELECT greatest(next_at, CASE WHEN lease_owner <> '' THEN lease_expires_at END) AS due
			FROM webhook_campaigns WHERE state = 'running' AND next_at IS NOT NULL
		) c WHERE due > $1`, []any{p.Now}},
	}, func(i int, rows pgx.Rows) error {
		if i == 1 {
			_, err := pgx.ForEachRow(rows, []any{&next}, func() error { return nil })
			return err
		}
		cs, err := collect(rows, scanCampaign)
		if len(cs) > 0 {
			res.Campaign = cs[0]
		}
		return err
	})
	if err != nil {
		return webhook.LeaseCampaignResult{}, wrap("lease campaign", err)
	}
	if res.Campaign == nil {
		res.NextDue = timeOrZero(next)
	}
	return res, nil
}
