package pgstore

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/hookline/webhook"
	"github.com/jackc/pgx/v5"
)

// putUsersSQL saves the users of the arrays $1 to $5 (ID, the user as JSON, whether to merge
// it, the attributes to unset as a JSON array, and the created_at of a new user that has
// none, as JSON or NULL for none), whose IDs differ: a new user as given, with that
// created_at; a stored one merged, or replaced, keeping its created_at if the new one has
// none. The user's JSON leaves out zero fields (and Test if false), so merging is jsonb's ||,
// with the attributes merged a level down.
const putUsersSQL = `WITH u AS (
	SELECT * FROM unnest($1::text[], $2::jsonb[], $3::boolean[], $4::jsonb[], $5::jsonb[]) AS u(id, data, merge, unset, now)
)
INSERT INTO webhook_users (id, data)
SELECT id, CASE WHEN data ? 'created_at' OR now IS NULL THEN data
	ELSE data || jsonb_build_object('created_at', now) END
FROM u
ON CONFLICT (id) DO UPDATE SET data = (
	SELECT CASE WHEN NOT u.merge THEN
			jsonb_strip_nulls(jsonb_build_object('created_at', webhook_users.data -> 'created_at')) || u.data
		ELSE (webhook_users.data || u.data) - 'attributes'
			|| CASE a.attrs WHEN '{}' THEN '{}' ELSE jsonb_build_object('attributes', a.attrs) END
		END
	FROM u, LATERAL (SELECT (coalesce(webhook_users.data -> 'attributes', '{}') || coalesce(u.data -> 'attributes', '{}'))
		- ARRAY (SELECT jsonb_array_elements_text(u.unset)) AS attrs) a
	WHERE u.id = excluded.id
)`

// PutUsers implements [webhook.UserStore], in one statement, or, if p names a user more than
// once, in one statement per time it names one user (the first of each user's updates in the
// first), in one round trip and one transaction.
func (s *Store) PutUsers(ctx context.Context, p webhook.PutUsersParams) error {
	stmts, err := putUsersStmts(p.Users, func(int) time.Time { return p.Now })
	if err != nil {
		return wrap("put users", err)
	}
	err = s.batch(ctx, "", stmts, func(_ int, rows pgx.Rows) error {
		rows.Close()
		return rows.Err()
	})
	return wrap("put users", err)
}

// putUsersStmts returns the statements that save ups as PutUsers does, with now(i) the
// PutUsersParams.Now of ups[i]: one putUsersSQL per round of ups, the first update of each
// user in the first round, the second in the second, and so on.
func putUsersStmts(ups []webhook.UserUpdate, now func(i int) time.Time) ([]stmt, error) {
	type round struct {
		ids                []string
		data, unsets, nows [][]byte
		merges             []bool
	}
	var rounds []*round
	seen := make(map[string]int, len(ups)) // user ID → its updates so far
	for i, up := range ups {
		k := seen[up.User.ID]
		seen[up.User.ID] = k + 1
		if k == len(rounds) {
			rounds = append(rounds, &round{})
		}
		r := rounds[k]
		data, err := json.Marshal(up.User)
		if err != nil {
			return nil, err
		}
		var unset []byte
		merge := !up.Replace
		if merge && len(up.Unset) > 0 {
			if unset, err = json.Marshal(up.Unset); err != nil {
				return nil, err
			}
		}
		created, err := marshal(nullTime(now(i)))
		if err != nil {
			return nil, err
		}
		r.ids, r.data, r.merges, r.unsets = append(r.ids, up.User.ID), append(r.data, data), append(r.merges, merge), append(r.unsets, unset)
		r.nows = append(r.nows, created)
	}
	stmts := make([]stmt, len(rounds))
	for i, r := range rounds {
		stmts[i] = stmt{putUsersSQL, []any{r.ids, r.data, r.merges, r.unsets, r.nows}}
	}
	return stmts, nil
}

// Users implements [webhook.UserStore]. Calls with IDs made at the same time share a
// statement: while one runs, the calls that arrive wait, and then run together.
func (s *Store) Users(ctx context.Context, q webhook.UserQuery) ([]webhook.User, error) {
	if len(q.IDs) > 0 {
		r := &userRead{ids: q.IDs}
		err := do(ctx, s.users, s.readUsers, r)
		return r.users, wrap("users", err)
	}
	rows, err := s.db.Query(ctx, `SELECT data FROM webhook_users WHERE id > $1 ORDER BY id LIMIT $2`, q.After, max(q.Limit, 0))
	if err != nil {
		return nil, wrap("users", err)
	}
	users, err := collect(rows, scanUser)
	return users, wrap("users", err)
}

// userRead is a Users call by IDs: the IDs asked for, and the users read.
type userRead struct {
	ids   []string
	users []webhook.User
}

// readUsers reads the users of rs in one statement. In it and readMessages, a LATERAL
// subquery with OFFSET 0, which PostgreSQL does not merge into a join, looks each ID up by
// the primary key as a lookup of one would, even in a plan kept from when the table was
// small and a hash join over a sequential scan looked cheaper.
func (s *Store) readUsers(ctx context.Context, rs []*userRead) []error {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ids...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	found := make(map[string]webhook.User, len(ids))
	err := s.batch(ctx, hotSettings, []stmt{{`SELECT u.data FROM unnest($1::text[]) AS q(id)
		CROSS JOIN LATERAL (SELECT data FROM webhook_users WHERE id = q.id OFFSET 0) u`, []any{ids}}},
		func(_ int, rows pgx.Rows) error {
			users, err := collect(rows, scanUser)
			for _, u := range users {
				found[u.ID] = u
			}
			return err
		})
	errs := make([]error, len(rs))
	for i, r := range rs {
		if err != nil {
			errs[i] = err
			continue
		}
		ids := slices.Clone(r.ids)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			if u, ok := found[id]; ok {
				r.users = append(r.users, u)
			}
		}
	}
	return errs
}

// scanUser reads a user from its data column.
func scanUser(row pgx.Row) (webhook.User, error) {
	var u webhook.User
	var data []byte
	if err := row.Scan(&data); err != nil {
		return u, err
	}
	return u, json.Unmarshal(data, &u)
}
