package pgstore

import (
	"context"
	"time"

	"github.com/hookline/webhook"
)

// eventWindow selects the events of user $1 named $2 with a time from $3 to $4, both
// included, a NULL bound being no bound: a range scan of the index on (user_id, name, time).
const eventWindow = ` FROM webhook_events
	WHERE user_id = $1 AND name = $2
		AND time >= coalesce($3::timestamptz, '-infinity') AND time <= coalesce($4::timestamptz, 'infinity')`

// EventStats implements [webhook.EventHistoryStore]. It reads only the events of the window,
// through the index on (user_id, name, time). Without q.Where the statistics are computed in
// SQL (a JSON number is an int64 or a float64 in the [webhook.Map] model, so jsonb_typeof
// 'number' is what Numbers counts); with it, the window's parameters are read and
// a [webhook.Condition.Matcher] decides, so that every operator means what it means elsewhere.
func (s *Store) EventStats(ctx context.Context, q webhook.EventQuery) (webhook.EventStats, error) {
	args := []any{q.UserID, q.Name, nullTime(ceilMicro(q.Since)), nullTime(q.Until)}
	if q.Where != nil {
		st, err := s.matchEvents(ctx, q, args)
		return st, wrap("event stats", err)
	}
	var st webhook.EventStats
	var first, last *time.Time
	err := s.db.QueryRow(ctx, `WITH selected AS (
		SELECT time, CASE WHEN jsonb_typeof(params -> $5::text) = 'number' THEN (params ->> $5::text)::float8 END AS n`+
		eventWindow+`
	)
	SELECT count(*), min(time), max(time), count(n), coalesce(sum(n), 0), coalesce(min(n), 0), coalesce(max(n), 0)
	FROM selected`, append(args, q.Param)...).Scan(&st.Count, &first, &last, &st.Numbers, &st.Sum, &st.Min, &st.Max)
	if err != nil {
		return webhook.EventStats{}, wrap("event stats", err)
	}
	if st.Count > 0 {
		st.First, st.Last = *first, *last
	}
	return st, nil
}

// matchEvents computes the statistics of q, whose Where is set, by reading the parameters of
// the events of the window (selected by args) and matching each.
func (s *Store) matchEvents(ctx context.Context, q webhook.EventQuery, args []any) (webhook.EventStats, error) {
	var st webhook.EventStats
	rows, err := s.db.Query(ctx, `SELECT time, params`+eventWindow+` ORDER BY time`, args...)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	match := q.Where.Matcher()
	for rows.Next() {
		var t time.Time
		var raw []byte
		var params webhook.Map
		if err := rows.Scan(&t, &raw); err != nil {
			return webhook.EventStats{}, err
		}
		if err := unmarshal(raw, &params); err != nil {
			return webhook.EventStats{}, err
		}
		if !match(params) {
			continue
		}
		var v any
		if q.Param != "" {
			v = params[q.Param]
		}
		st.Add(t, v)
	}
	if err := rows.Err(); err != nil {
		return webhook.EventStats{}, err
	}
	return st, nil
}

// CountSent implements [webhook.AttemptStore]. It reads a partial index on the succeeded
// attempts by (user_id, time) that includes the message and IgnoreCaps, so it does not touch
// the attempts themselves.
func (s *Store) CountSent(ctx context.Context, userID, messageID string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM webhook_attempts
		WHERE user_id = $1 AND outcome = 'succeeded' AND time >= $3
			AND CASE WHEN $2 = '' THEN NOT ignore_caps ELSE message_id = $2 END`,
		userID, messageID, ceilMicro(since)).Scan(&n)
	return n, wrap("count sent", err)
}

// ceilMicro returns t rounded up to the microsecond. PostgreSQL keeps times to the
// microsecond and pgx drops the nanoseconds of those it sends, which is right for an upper
// bound (time <= t) but not for a lower one: time >= t holds for the times PostgreSQL keeps
// exactly if time >= ceilMicro(t) does.
func ceilMicro(t time.Time) time.Time {
	if d := t.Truncate(time.Microsecond); !d.Equal(t) {
		return d.Add(time.Microsecond)
	}
	return t
}

// nullTime returns t, or nil (SQL NULL) if t is zero.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
