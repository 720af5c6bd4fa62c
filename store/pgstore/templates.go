package pgstore

import (
	"context"
	"encoding/json"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// PutTemplate implements [webhook.TemplateStore], in one statement. Saves of one template
// take turns on its row of webhook_template_heads.
func (s *Store) PutTemplate(ctx context.Context, t *webhook.Template) error {
	c := *t
	c.Version = 0
	data, err := json.Marshal(&c)
	if err != nil {
		return wrap("put template", err)
	}
	var version int
	err = s.db.QueryRow(ctx, `WITH head AS (
		INSERT INTO webhook_template_heads (kind, name, version) VALUES ($1, $2, 1)
		ON CONFLICT (kind, name) DO UPDATE SET version = webhook_template_heads.version + 1
		RETURNING version
	)
	INSERT INTO webhook_templates (kind, name, version, data)
	SELECT $1, $2, version, jsonb_set($3, '{version}', to_jsonb(version)) FROM head
	RETURNING version`, string(t.Kind), t.Name, data).Scan(&version)
	if err != nil {
		return wrap("put template", err)
	}
	t.Version = version
	return nil
}

// Templates implements [webhook.TemplateStore], in one statement.
func (s *Store) Templates(ctx context.Context, q webhook.TemplateQuery) ([]*webhook.Template, error) {
	var rows pgx.Rows
	var err error
	if len(q.Refs) == 0 {
		rows, err = s.db.Query(ctx, `SELECT t.data, t.name, t.version FROM webhook_template_heads h
			JOIN webhook_templates t ON t.kind = h.kind AND t.name = h.name AND t.version = h.version
			WHERE h.kind = $1 AND h.name > $2 ORDER BY h.name LIMIT $3`, string(q.Kind), q.After, max(q.Limit, 0))
	} else {
		names, versions := make([]string, len(q.Refs)), make([]int32, len(q.Refs))
		for i, r := range q.Refs {
			names[i], versions[i] = r.Name, int32(r.Version)
		}
		rows, err = s.db.Query(ctx, `SELECT DISTINCT t.data, t.name, t.version
			FROM unnest($2::text[], $3::int[]) AS r(name, version)
			JOIN webhook_template_heads h ON h.kind = $1 AND h.name = r.name
			JOIN webhook_templates t ON t.kind = h.kind AND t.name = h.name
				AND t.version = CASE r.version WHEN 0 THEN h.version ELSE r.version END
			ORDER BY t.name, t.version`, string(q.Kind), names, versions)
	}
	if err != nil {
		return nil, wrap("templates", err)
	}
	ts, err := collect(rows, func(row pgx.Row) (*webhook.Template, error) {
		var data []byte
		var name string
		var version int
		t := new(webhook.Template)
		if err := row.Scan(&data, &name, &version); err != nil {
			return nil, err
		}
		return t, json.Unmarshal(data, t)
	})
	return ts, wrap("templates", err)
}
