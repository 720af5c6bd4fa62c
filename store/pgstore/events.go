package pgstore

import (
	"context"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// Events implements [webhook.EventStore]. It reads only the events of the window, by a range
// scan of the index on (user_id, name, time) for each name: those of q, or, if q names none
// and has a window, each name of the user's events, which it finds by skipping through the
// same index from one name to the next. Events with the same time come in the order they
// were saved (by seq). Since is rounded up to the microsecond, as stored times are whole
// microseconds (see ceilMicro).
func (s *Store) Events(ctx context.Context, q webhook.EventQuery) ([]webhook.Event, error) {
	var args params
	user := args.add(q.UserID)
	sql := `SELECT id, user_id, name, params, time FROM webhook_events WHERE user_id = ` + user
	window := !q.Since.IsZero() || !q.Until.IsZero()
	switch {
	case len(q.Names) > 0:
		sql += ` AND name = ANY (` + args.add(q.Names) + `)`
	case window:
		sql = `WITH RECURSIVE names (name) AS (
			SELECT min(name) FROM webhook_events WHERE user_id = ` + user + `
			UNION ALL
			SELECT (SELECT min(name) FROM webhook_events WHERE user_id = ` + user + ` AND name > names.name)
			FROM names WHERE name IS NOT NULL
		) ` + sql + ` AND name = ANY (ARRAY (SELECT name FROM names WHERE name IS NOT NULL))`
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

// insertEventsSQL saves the events of the arrays $1 to $5 (see eventArgs) in order, the
// first of each user and event ID winning.
const insertEventsSQL = `INSERT INTO webhook_events (id, user_id, name, params, time)
	SELECT id, user_id, name, params, time
	FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
		WITH ORDINALITY AS e(id, user_id, name, params, time, n)
	ORDER BY n
	ON CONFLICT (user_id, id) DO NOTHING`

// eventArgs returns the arguments of insertEventsSQL for events.
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
