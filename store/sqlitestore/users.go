package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"

	"github.com/hookline/webhook"
)

// PutUsers implements [webhook.UserStore]. One write reads the stored users of the batch,
// merges in Go, and saves them: a few statements for any number of users.
func (s *Store) PutUsers(ctx context.Context, p webhook.PutUsersParams) error {
	if len(p.Users) == 0 {
		return nil
	}
	ids := make([]string, len(p.Users))
	for i, up := range p.Users {
		ids[i] = up.User.ID
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stored := map[string]webhook.User{}
		err := inLists(ids, func(list string, args []any) error {
			rows, err := s.stmt(ctx, tx, `SELECT data FROM webhook_users WHERE id IN `+list).QueryContext(ctx, args...)
			if err != nil {
				return err
			}
			found, err := collect(nil, rows, document[webhook.User])
			for _, u := range found {
				stored[u.ID] = u
			}
			return err
		})
		if err != nil {
			return err
		}
		saved := map[string]webhook.User{}       // by ID: a user given twice is saved once
		order := make([]string, 0, len(p.Users)) // the keys of saved
		for _, up := range p.Users {
			id := up.User.ID
			old, ok := saved[id]
			if !ok {
				order = append(order, id)
				old, ok = stored[id]
			}
			if ok {
				saved[id] = up.Apply(&old, p.Now)
			} else {
				saved[id] = up.Apply(nil, p.Now)
			}
		}
		return chunks(len(order), maxChunk, func(start, size int) error {
			args := make([]any, 0, 2*size)
			for _, id := range order[start : start+size] {
				data, err := json.Marshal(saved[id])
				if err != nil {
					return err
				}
				args = append(args, id, string(data))
			}
			_, err := s.stmt(ctx, tx, `INSERT INTO webhook_users (id, data) VALUES `+rowsOf(size, "(?, ?)")+`
				ON CONFLICT (id) DO UPDATE SET data = excluded.data`).ExecContext(ctx, args...)
			return err
		})
	})
	return wrap("put users", err)
}

// Users implements [webhook.UserStore].
func (s *Store) Users(ctx context.Context, q webhook.UserQuery) ([]webhook.User, error) {
	if len(q.IDs) == 0 {
		rows, err := s.read(ctx, `SELECT data FROM webhook_users WHERE id > ? ORDER BY id LIMIT ?`, q.After, max(q.Limit, 0))
		if err != nil {
			return nil, wrap("users", err)
		}
		users, err := collect(nil, rows, document[webhook.User])
		return users, wrap("users", err)
	}
	var users []webhook.User
	err := inLists(q.IDs, func(list string, args []any) error {
		rows, err := s.read(ctx, `SELECT data FROM webhook_users WHERE id IN `+list+` ORDER BY id`, args...)
		if err == nil {
			users, err = collect(users, rows, document[webhook.User])
		}
		return err
	})
	if err != nil {
		return nil, wrap("users", err)
	}
	if len(q.IDs) > maxIn { // found in several reads, each in order
		slices.SortFunc(users, func(a, b webhook.User) int { return strings.Compare(a.ID, b.ID) })
		users = slices.CompactFunc(users, func(a, b webhook.User) bool { return a.ID == b.ID })
	}
	return users, nil
}
