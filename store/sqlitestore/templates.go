package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"slices"

	"github.com/hookline/webhook"
)

// PutTemplate implements [webhook.TemplateStore]: one write numbers the version and saves it.
func (s *Store) PutTemplate(ctx context.Context, t *webhook.Template) error {
	c := *t
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := s.stmt(ctx, tx, `SELECT coalesce(max(version), 0) + 1 FROM webhook_templates WHERE kind = ? AND name = ?`).
			QueryRowContext(ctx, c.Kind, c.Name).Scan(&c.Version)
		if err != nil {
			return err
		}
		data, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		_, err = s.stmt(ctx, tx, `INSERT INTO webhook_templates (kind, name, version, data) VALUES (?, ?, ?, ?)`).
			ExecContext(ctx, c.Kind, c.Name, c.Version, string(data))
		return err
	})
	if err != nil {
		return wrap("put template "+t.Name, err)
	}
	t.Version = c.Version
	return nil
}

// currentTemplatesSQL selects the current versions of the templates of a kind, with a
// condition on t after it.
const currentTemplatesSQL = `SELECT data FROM webhook_templates t WHERE kind = ?
	AND version = (SELECT max(version) FROM webhook_templates WHERE kind = t.kind AND name = t.name) AND `

// Templates implements [webhook.TemplateStore].
func (s *Store) Templates(ctx context.Context, q webhook.TemplateQuery) ([]*webhook.Template, error) {
	if len(q.Refs) == 0 {
		rows, err := s.read(ctx, currentTemplatesSQL+`name > ? ORDER BY name LIMIT ?`, q.Kind, q.After, max(q.Limit, 0))
		if err != nil {
			return nil, wrap("templates", err)
		}
		ts, err := collect(nil, rows, document[*webhook.Template])
		return ts, wrap("templates", err)
	}
	var out []*webhook.Template
	for _, ref := range q.Refs {
		var rows *sql.Rows
		var err error
		if ref.Version == 0 {
			rows, err = s.read(ctx, currentTemplatesSQL+`name = ?`, q.Kind, ref.Name)
		} else {
			rows, err = s.read(ctx, `SELECT data FROM webhook_templates WHERE kind = ? AND name = ? AND version = ?`, q.Kind, ref.Name, ref.Version)
		}
		if err == nil {
			out, err = collect(out, rows, document[*webhook.Template])
		}
		if err != nil {
			return nil, wrap("templates", err)
		}
	}
	slices.SortFunc(out, func(a, b *webhook.Template) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return slices.CompactFunc(out, func(a, b *webhook.Template) bool { return a.Name == b.Name && a.Version == b.Version }), nil
}
