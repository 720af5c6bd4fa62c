package sqlitestore

import (
	"context"
	"database/sql"
	"math"

	"github.com/hookline/webhook"
)

// eventsSQL returns the query of q and its arguments. It reads the window from the index on
// (user_id, name, time) for the names given, or from the index on (user_id, time) for all
// names. SQLite would read the second for several names, so as not to sort what it reads;
// that costs more as the user has more events of other names.
func eventsSQL(q *webhook.EventQuery) (string, []any) {
	from, names := `webhook_events`, ``
	args := []any{q.UserID, bound(q.Since, math.MinInt64), bound(q.Until, math.MaxInt64)}
	if len(q.Names) > 0 {
		list, values := inList(q.Names)
		from, names = `webhook_events INDEXED BY webhook_events_name`, ` AND name IN `+list
		args = append(args, values...)
	}
	return `SELECT id, name, time, params FROM ` + from + ` WHERE user_id = ? AND time BETWEEN ? AND ?` + names +
		` ORDER BY time, seq`, args
}

// Events implements [webhook.EventStore].
func (s *Store) Events(ctx context.Context, q webhook.EventQuery) ([]webhook.Event, error) {
	query, args := eventsSQL(&q)
	rows, err := s.read(ctx, query, args...)
	if err != nil {
		return nil, wrap("events", err)
	}
	events, err := collect(nil, rows, func(sc scanner) (webhook.Event, error) {
		e := webhook.Event{UserID: q.UserID}
		var at int64
		var params sql.NullString
		if err := sc.Scan(&e.ID, &e.Name, &at, &params); err != nil {
			return e, err
		}
		e.Time = fromInstant(at)
		return e, unmarshalNull(params, &e.Params)
	})
	return events, wrap("events", err)
}

// insertEvents saves events in tx, but not those whose user and ID it holds, nor a second
// one with the same user and ID: a few statements for any number of events. (On OR IGNORE,
// see orIgnore.)
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, events []webhook.Event) error {
	return chunks(len(events), maxChunk, func(start, size int) error {
		args := make([]any, 0, 5*size)
		for _, e := range events[start : start+size] {
			params, err := marshalMap(e.Params)
			if err != nil {
				return err
			}
			args = append(args, e.ID, e.UserID, e.Name, instant(e.Time), params)
		}
		_, err := s.stmt(ctx, tx, `INSERT OR IGNORE INTO webhook_events (id, user_id, name, time, params) VALUES `+
			rowsOf(size, "(?, ?, ?, ?, ?)")).ExecContext(ctx, args...)
		return err
	})
}
