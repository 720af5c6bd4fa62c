package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/hookline/webhook"
)

// PutMessage implements [webhook.MessageStore]: one write numbers the version in the
// message's row and saves the version.
func (s *Store) PutMessage(ctx context.Context, m *webhook.Message) error {
	var trigger sql.NullString
	if m.Delivery.Kind == webhook.Triggered {
		trigger = sql.NullString{String: m.Delivery.Event, Valid: true}
	}
	c := *m
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// RETURNING would make SQLite keep a statement journal (see orIgnore).
		_, err := s.stmt(ctx, tx, `INSERT INTO webhook_messages (id, version, trigger_event) VALUES (?, 1, ?)
			ON CONFLICT (id) DO UPDATE SET version = version + 1, trigger_event = excluded.trigger_event, deleted = 0`).
			ExecContext(ctx, c.ID, trigger)
		if err != nil {
			return err
		}
		err = s.stmt(ctx, tx, `SELECT version FROM webhook_messages WHERE id = ?`).QueryRowContext(ctx, c.ID).Scan(&c.Version)
		if err != nil {
			return err
		}
		data, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		_, err = s.stmt(ctx, tx, `INSERT INTO webhook_message_versions (id, version, data) VALUES (?, ?, ?)`).
			ExecContext(ctx, c.ID, c.Version, string(data))
		return err
	})
	if err != nil {
		return wrap("put message "+m.ID, err)
	}
	m.Version = c.Version
	return nil
}

// currentSQL selects, with a column list of webhook_message_versions v before it, the
// current versions of the messages m.
const currentSQL = ` FROM webhook_messages m JOIN webhook_message_versions v ON v.id = m.id AND v.version = m.version`

// Messages implements [webhook.MessageStore].
func (s *Store) Messages(ctx context.Context, q webhook.MessageQuery) ([]*webhook.Message, error) {
	var rows *sql.Rows
	var err error
	switch {
	case q.ID != "" && q.Version == 0:
		rows, err = s.read(ctx, `SELECT v.data`+currentSQL+` WHERE m.id = ?`, q.ID)
	case q.ID != "":
		rows, err = s.read(ctx, `SELECT data FROM webhook_message_versions WHERE id = ? AND version = ?`, q.ID, q.Version)
	case q.Event != "":
		rows, err = s.read(ctx, `SELECT v.data`+currentSQL+` WHERE m.trigger_event = ? ORDER BY m.id`, q.Event)
	default:
		rows, err = s.read(ctx, `SELECT v.data`+currentSQL+` WHERE m.deleted = 0 AND m.id > ? ORDER BY m.id LIMIT ?`,
			q.After, max(q.Limit, 0))
	}
	if err != nil {
		return nil, wrap("messages", err)
	}
	ms, err := collect(nil, rows, document[*webhook.Message])
	return ms, wrap("messages", err)
}

// DeleteMessage implements [webhook.MessageStore].
func (s *Store) DeleteMessage(ctx context.Context, id string) error {
	n, err := s.execWrite(ctx, `UPDATE webhook_messages SET deleted = 1, trigger_event = NULL WHERE id = ?`, id)
	if err == nil && n == 0 {
		err = webhook.ErrNotFound
	}
	return wrap("delete message "+id, err)
}
