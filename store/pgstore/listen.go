package pgstore

import (
	"context"
	"time"
)

// channel is the NOTIFY channel of changes that may make jobs or fan-outs due sooner; the
// payload is the schema of the queue.
const channel = "webhook_jobs"

// notifySQL notifies listeners (see [Store.Notifications]) when its transaction commits.
const notifySQL = `SELECT pg_notify('` + channel + `', current_schema())`

// relisten is how long the listener waits before it reconnects after losing its connection.
const relisten = time.Second

// Notifications implements [webhook.Notifier] with LISTEN on a dedicated connection, taken out
// of the pool (which no longer counts it, and may open another in its place) and closed when
// ctx ends. Changes to the same schema by any process send a value when they commit if they
// may make work due sooner: an Enqueue of a scheduled job, an UpdateJobs that moves jobs to
// scheduled, and a PutCampaign or LeaseCampaign that leaves a running campaign with a fan-out
// to do. So does reconnecting after the connection is lost, which the listener retries every
// second.
func (s *Store) Notifications(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		for {
			s.listen(ctx, ch)
			t := time.NewTimer(relisten)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return ch
}

// listen sends a value on ch for each notification until ctx ends or the connection fails.
func (s *Store) listen(ctx context.Context, ch chan<- struct{}) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return
	}
	conn := pc.Hijack() // out of the pool: a listening connection is not for queries
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relisten)
		defer cancel()
		conn.Close(ctx)
	}()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return
	}
	if _, err := conn.Exec(ctx, `LISTEN `+channel); err != nil {
		return
	}
	// Jobs may have been enqueued while no connection listened.
	notify(ch)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		if n.Payload == schema {
			notify(ch)
		}
	}
}

// notify puts a value in ch unless one is there already.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
