package pgstore

import (
	"context"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// assignVariantsSQL saves the assignments of the arrays $1 to $3 (message ID, user ID and
// variant) that have a variant, the first of each message and user, unless one is saved.
const assignVariantsSQL = `INSERT INTO webhook_variants (message_id, user_id, variant)
SELECT DISTINCT ON (message_id, user_id) message_id, user_id, variant
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS a(message_id, user_id, variant, n)
WHERE variant <> ''
ORDER BY message_id, user_id, n
ON CONFLICT (message_id, user_id) DO NOTHING`

// heldVariantsSQL returns the variant saved for each message and user of the arrays $1 and
// $2, in order: an empty string for none.
const heldVariantsSQL = `SELECT coalesce(v.variant, '')
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS a(message_id, user_id, n)
LEFT JOIN LATERAL (SELECT variant FROM webhook_variants
	WHERE message_id = a.message_id AND user_id = a.user_id OFFSET 0) v ON true
ORDER BY a.n`

// AssignVariants implements [webhook.VariantStore], in two statements in one round trip and
// one transaction: the first saves, and the second, whose snapshot (read committed) sees the
// assignments that another transaction saved while the first waited for it, reads what is
// held.
func (s *Store) AssignVariants(ctx context.Context, p webhook.AssignVariantsParams) ([]string, error) {
	n := len(p.Assignments)
	msgs, users, variants := make([]string, n), make([]string, n), make([]string, n)
	for i, a := range p.Assignments {
		msgs[i], users[i], variants[i] = a.MessageID, a.UserID, a.Variant
	}
	held := make([]string, 0, n)
	err := s.batch(ctx, "", []stmt{{assignVariantsSQL, []any{msgs, users, variants}}, {heldVariantsSQL, []any{msgs, users}}},
		func(i int, rows pgx.Rows) error {
			if i == 0 {
				rows.Close()
				return rows.Err()
			}
			var v string
			_, err := pgx.ForEachRow(rows, []any{&v}, func() error {
				held = append(held, v)
				return nil
			})
			return err
		})
	if err != nil {
		return nil, wrap("assign variants", err)
	}
	return held, nil
}
