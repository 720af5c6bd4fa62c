package sqlitestore

import (
	"context"
	"database/sql"
	"slices"

	"github.com/hookline/webhook"
)

// AssignVariants implements [webhook.VariantStore]: one write saves the assignments of users
// who have none (the first of a message and user in the call), and reads back what is held,
// with a few statements for any number of them. An assignment with no variant only reads.
func (s *Store) AssignVariants(ctx context.Context, p webhook.AssignVariantsParams) ([]string, error) {
	if len(p.Assignments) == 0 {
		return []string{}, ctx.Err()
	}
	var saves [][]any
	keys := make([]any, 0, 2*len(p.Assignments))
	for _, a := range p.Assignments {
		if a.Variant != "" {
			saves = append(saves, []any{a.MessageID, a.UserID, a.Variant})
		}
		keys = append(keys, a.MessageID, a.UserID)
	}
	held := map[[2]string]string{}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		clear(held)
		err := chunks(len(saves), maxChunk, func(start, size int) error {
			// (On OR IGNORE, see orIgnore.) A row given twice is saved the first time.
			_, err := s.stmt(ctx, tx, `INSERT OR IGNORE INTO webhook_variants (message_id, user_id, variant) VALUES `+
				rowsOf(size, "(?, ?, ?)")).ExecContext(ctx, slices.Concat(saves[start:start+size]...)...)
			return err
		})
		if err != nil {
			return err
		}
		return chunks(len(keys)/2, maxChunk, func(start, size int) error {
			rows, err := s.stmt(ctx, tx, `SELECT message_id, user_id, variant FROM webhook_variants WHERE (message_id, user_id) IN (VALUES `+
				rowsOf(size, "(?, ?)")+`)`).QueryContext(ctx, keys[2*start:2*(start+size)]...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var m, u, v string
				if err := rows.Scan(&m, &u, &v); err != nil {
					return err
				}
				held[[2]string{m, u}] = v
			}
			return rows.Err()
		})
	})
	if err != nil {
		return nil, wrap("assign variants", err)
	}
	out := make([]string, len(p.Assignments))
	for i, a := range p.Assignments {
		out[i] = held[[2]string{a.MessageID, a.UserID}]
	}
	return out, nil
}
