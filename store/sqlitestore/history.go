package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/hookline/webhook"
)

// EventStats implements [webhook.EventHistoryStore]. It reads the window from the index on
// (user_id, name, time): with neither Where nor Param SQLite counts it there, and otherwise
// the window's events are read and q.Where matched in Go, with a [webhook.Condition.Matcher].
func (s *Store) EventStats(ctx context.Context, q webhook.EventQuery) (webhook.EventStats, error) {
	var st webhook.EventStats
	since, until := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		until = q.Until.UnixNano()
	}
	if q.Where == nil && q.Param == "" {
		var first, last sql.NullInt64
		err := s.queryRow(ctx, `SELECT count(*), min(time), max(time)`+eventWindow, q.UserID, q.Name, since, until).
			Scan(&st.Count, &first, &last)
		if err != nil {
			return webhook.EventStats{}, fmt.Errorf("sqlitestore: event stats: %w", err)
		}
		st.First, st.Last = fromNanos(first), fromNanos(last)
		return st, nil
	}
	rows, err := s.query(ctx, `SELECT time, params`+eventWindow, q.UserID, q.Name, since, until)
	if err != nil {
		return webhook.EventStats{}, fmt.Errorf("sqlitestore: event stats: %w", err)
	}
	defer rows.Close()
	match := q.Where.Matcher()
	for rows.Next() {
		var t int64
		var raw sql.NullString
		var params webhook.Map
		if err := rows.Scan(&t, &raw); err != nil {
			return webhook.EventStats{}, fmt.Errorf("sqlitestore: event stats: %w", err)
		}
		if err := unmarshalNull(raw, &params); err != nil {
			return webhook.EventStats{}, fmt.Errorf("sqlitestore: event stats: %w", err)
		}
		if !match(params) {
			continue
		}
		var v any
		if q.Param != "" {
			v = params[q.Param]
		}
		st.Add(time.Unix(0, t).UTC(), v)
	}
	if err := rows.Err(); err != nil {
		return webhook.EventStats{}, fmt.Errorf("sqlitestore: event stats: %w", err)
	}
	return st, nil
}

// countSentSQL counts the succeeded attempts to user ?1 at or after ?2, of message ?3 or, if
// ?3 is empty, of every message but those with IgnoreCaps.
const countSentSQL = `SELECT count(*) FROM attempts
	WHERE outcome = 'succeeded' AND user_id = ?1 AND time >= ?2
		AND (?3 = '' AND ignore_caps = 0 OR message_id = ?3)`

// eventWindow selects the events of user ?1 named ?2 with a time from ?3 to ?4.
const eventWindow = ` FROM events WHERE user_id = ?1 AND name = ?2 AND time BETWEEN ?3 AND ?4`

// CountSent implements [webhook.AttemptStore]. It searches the partial index of succeeded
// attempts on (user_id, time, message_id, ignore_caps) for the window. The literal
// 'succeeded' in the query is [webhook.Succeeded], as in the index, so that SQLite uses it.
func (s *Store) CountSent(ctx context.Context, userID, messageID string, since time.Time) (int, error) {
	var n int
	err := s.queryRow(ctx, countSentSQL, userID, since.UnixNano(), messageID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: count sent to %q: %w", userID, err)
	}
	return n, nil
}
