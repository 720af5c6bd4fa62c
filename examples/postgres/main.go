// Command postgres runs several instances of a small app that share one Postgres-backed
// job queue: each instance has its own Sender and connection pool, as separate processes
// would, and each job is sent by exactly one of them. Events are recorded by the first
// instance, half of them inside the app's own transaction with Sender.InTx.
//
//	go run ./examples/postgres -dsn 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// To run the instances as processes instead, start the program several times with
// -instances 1 against the same database; every one of them sends a share of every run's
// jobs. The webhooks go to a receiver the program runs on 127.0.0.1, which counts them
// by the instance that sent them.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	dsn := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL connection URL")
	schema := flag.String("schema", "webhook_example", "schema for the queue's tables")
	instances := flag.Int("instances", 3, "app instances to run")
	events := flag.Int("events", 20, "events to record")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The receiver counts the requests it gets, by job ID and by the instance that sent
	// them (each instance has its own User-Agent), and closes all once every event's job
	// has arrived.
	var mu sync.Mutex
	got, by := map[string]int{}, map[string]int{}
	all := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		id := r.Header.Get("Webhook-Id")
		got[id]++
		by[r.UserAgent()]++
		if got[id] == 1 && len(got) == *events {
			close(all)
		}
		mu.Unlock()
	}))

	// Each instance opens its own pool with the queue's schema on its search_path.
	cfg, err := pgxpool.ParseConfig(*dsn)
	if err != nil {
		log.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = *schema
	cfg.MaxConns = 4
	var apps []*webhook.Sender
	var stores []*pgstore.Store
	var pools []*pgxpool.Pool
	for i := range *instances {
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			log.Fatal(err)
		}
		defer pool.Close()
		if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{*schema}.Sanitize()); err != nil {
			log.Fatal(err)
		}
		store := pgstore.New(pool)
		if err := store.Migrate(ctx); err != nil {
			log.Fatal(err)
		}
		sender, err := webhook.NewSender(store, &webhook.Config{
			ID: fmt.Sprintf("instance-%d", i), UserAgent: fmt.Sprintf("instance-%d", i), AllowNetworks: loopback,
		})
		if err != nil {
			log.Fatal(err)
		}
		if err := sender.Start(ctx); err != nil {
			log.Fatal(err)
		}
		defer sender.Stop(context.Background())
		apps, stores, pools = append(apps, sender), append(stores, store), append(pools, pool)
	}
	if *events == 0 || len(apps) == 0 {
		<-ctx.Done() // only send what other processes record
		return
	}

	err = apps[0].SaveMessage(ctx, &webhook.Message{
		ID:       "order-paid",
		URL:      "http://" + ln.Addr().String() + "/orders/{{ parameter['order'] }}",
		Data:     []webhook.Field{{Key: "user", Value: "{{ user.id }}"}},
		Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "paid"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i := range *events {
		e := webhook.Event{UserID: fmt.Sprintf("user-%d", i), Name: "paid", Params: map[string]any{"order": i}}
		if i%2 == 0 {
			err = apps[0].Trigger(ctx, e)
		} else {
			// The app's own write and the webhook commit together, or neither does.
			err = pgx.BeginFunc(ctx, pools[0], func(tx pgx.Tx) error {
				// ... the app's own writes through tx ...
				return apps[0].InTx(stores[0].WithTx(tx)).Trigger(ctx, e)
			})
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	sent := 0
	for _, c := range got {
		sent += c
	}
	fmt.Printf("%d instances delivered %d events in %d requests: %v\n", len(apps), len(got), sent, by)
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
