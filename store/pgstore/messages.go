package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// PutMessage implements [webhook.MessageStore], in one statement. Saves of one message take
// turns on its row of webhook_message_heads.
func (s *Store) PutMessage(ctx context.Context, m *webhook.Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return wrap("put message", err)
	}
	var event *string
	if m.Delivery.Kind == webhook.Triggered {
		event = &m.Delivery.Event
	}
	var version int
	err = s.db.QueryRow(ctx, `WITH head AS (
		INSERT INTO webhook_message_heads (id, version, deleted, trigger_event) VALUES ($1, 1, false, $2)
		ON CONFLICT (id) DO UPDATE SET version = webhook_message_heads.version + 1, deleted = false,
			trigger_event = excluded.trigger_event
		RETURNING version
	)
	INSERT INTO webhook_messages (id, version, data)
	SELECT $1, version, $3 FROM head
	RETURNING version`, m.ID, event, data).Scan(&version)
	if err != nil {
		return wrap("put message", err)
	}
	m.Version = version
	return nil
}

// DeleteMessage implements [webhook.MessageStore]: it marks the message's head deleted, and
// takes it out of the index of triggered messages.
func (s *Store) DeleteMessage(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx, `UPDATE webhook_message_heads SET deleted = true, trigger_event = NULL WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("%q: %w", id, webhook.ErrNotFound)
	}
	return wrap("delete message", err)
}

// currentMessages selects the current version of the messages whose heads h the statement
// goes on to select, as the columns scanMessage reads.
const currentMessages = `SELECT m.data, m.version FROM webhook_message_heads h
	JOIN webhook_messages m ON m.id = h.id AND m.version = h.version`

// Messages implements [webhook.MessageStore]. Calls with an ID made at the same time share a
// statement, as those of Users with IDs do. Messages by event are read through a partial
// index of the heads of triggered messages.
func (s *Store) Messages(ctx context.Context, q webhook.MessageQuery) ([]*webhook.Message, error) {
	if q.ID != "" {
		r := &messageRead{id: q.ID, version: q.Version}
		if err := do(ctx, s.messages, s.readMessages, r); err != nil {
			return nil, wrap("messages", err)
		}
		if r.msg == nil {
			return nil, nil
		}
		return []*webhook.Message{r.msg}, nil
	}
	var rows pgx.Rows
	var err error
	if q.Event != "" {
		rows, err = s.db.Query(ctx, currentMessages+` WHERE h.trigger_event = $1 ORDER BY h.id`, q.Event)
	} else {
		rows, err = s.db.Query(ctx, currentMessages+` WHERE NOT h.deleted AND h.id > $1 ORDER BY h.id LIMIT $2`,
			q.After, max(q.Limit, 0))
	}
	if err != nil {
		return nil, wrap("messages", err)
	}
	msgs, err := collect(rows, scanMessage)
	return msgs, wrap("messages", err)
}

// messageRead is a Messages call by ID: the ID and version asked for, and the message read,
// or nil.
type messageRead struct {
	id      string
	version int
	msg     *webhook.Message
}

// readMessages reads the messages of rs in one statement.
func (s *Store) readMessages(ctx context.Context, rs []*messageRead) []error {
	ids, versions := make([]string, len(rs)), make([]int32, len(rs))
	for i, r := range rs {
		ids[i], versions[i] = r.id, int32(r.version)
	}
	err := s.batch(ctx, hotSettings, []stmt{{`SELECT q.n, m.data, m.version
		FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS q(id, version, n)
		CROSS JOIN LATERAL (SELECT data, version FROM webhook_messages WHERE id = q.id AND version =
			coalesce(nullif(q.version, 0), (SELECT version FROM webhook_message_heads WHERE id = q.id))
			OFFSET 0) m`, []any{ids, versions}}},
		func(_ int, rows pgx.Rows) error {
			defer rows.Close()
			for rows.Next() {
				var n int
				m, err := scanMessage(scanPrefix{rows, []any{&n}})
				if err != nil {
					return err
				}
				if n < 1 || n > len(rs) {
					return fmt.Errorf("row for message %d of %d", n, len(rs))
				}
				rs[n-1].msg = m
			}
			return rows.Err()
		})
	errs := make([]error, len(rs))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// scanMessage reads a message from its data and version columns.
func scanMessage(row pgx.Row) (*webhook.Message, error) {
	var data []byte
	m := new(webhook.Message)
	if err := row.Scan(&data, &m.Version); err != nil {
		return nil, err
	}
	version := m.Version
	if err := json.Unmarshal(data, m); err != nil {
		return nil, err
	}
	m.Version = version
	return m, nil
}
