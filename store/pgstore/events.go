package pgstore

import (
	"context"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// Events implements [webhook.EventStore]. It reads only the events of the window, by a range
// scan of the index on (user_id, name, time) for each name, or of its user_id prefix if q
// names none. Events with the same time come in the order they were saved (by seq). Since
// is rounded up to the microsecond, as stored times are whole microseconds (see ceilMicro).
func (s *Store) Events(ctx context.Context, q webhook.EventQuery) ([]webhook.Event, error) {
	var args params
	sql := `SELECT id, user_id, name, params, time FROM webhook_events WHERE user_id = ` + args.add(q.UserID)
	if len(q.Names) > 0 {
		sql += ` AND name = ANY (` + args.add(q.Names) + `)`
	}
	if !q.Since.IsZero() {
		sql += ` AND time >= ` + args.add(ceilMicro(q.Since))
	}
	if !q.Until.IsZero() {
		sql += ` AND time <= ` + args.add(q.Until)
	}
	rows, err := s.db.Query(ctx, sql+` ORDER BY time, seq`, args...)
	if err != nil {
		return nil, wrap("events", err)
	}
	events, err := collect(rows, func(row pgx.Row) (webhook.Event, error) {
		var e webhook.Event
		var params []byte
		if err := row.Scan(&e.ID, &e.UserID, &e.Name, &params, &e.Time); err != nil {
			return e, err
		}
		return e, unmarshal(params, &e.Params)
	})
	return events, wrap("events", err)
}

// eventArgs returns the arrays of the events' columns for enqueueSQL: ID, user ID, name,
// params and time.
func eventArgs(events []webhook.Event) ([]any, error) {
	n := len(events)
	ids, users, names, params, times := make([]string, n), make([]string, n), make([]string, n), make([][]byte, n), make([]time.Time, n)
	for i, e := range events {
		ids[i], users[i], names[i], times[i] = e.ID, e.UserID, e.Name, e.Time
		var err error
		if params[i], err = marshal(e.Params); err != nil {
			return nil, err
		}
	}
	return []any{ids, users, names, params, times}, nil
}
