// Package crashtest proves that a durable Store loses no job when the processes
// sending through it are killed: a test re-executes its own binary as child processes that
// each run a Sender on the Store, kills them with SIGKILL at random moments and restarts
// them, while the parent process runs the receiver and counts what arrives.
//
// A store's test calls [Run] with a function that opens the store; in the parent, Run plays
// the parent, and in a child (which Run starts by re-running the same test) it plays the
// child and never returns.
package crashtest

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/webhooktest"
)

// heldPerWorker is how many jobs a Sender on the system clock holds at most per worker:
// twice Workers, a claim batch of at most twice Workers more, and four times Workers more
// for outcomes waiting to be written together (see the webhook package's dispatcher).
const heldPerWorker = 8

// Config describes a crash test.
type Config struct {
	// Setup runs once in the parent and returns what the children need to reach the same
	// store, such as a database file's path or a schema name; it may register cleanups with
	// t.Cleanup. Required.
	Setup func(t *testing.T) string
	// Open opens the store in a child process, from what Setup returned. Required.
	Open func(ctx context.Context, shared string) (webhook.Store, error)
	// Jobs is the size of the campaign: one job to each of that many users.
	// Defaults to 300.
	Deliveries int
	// Processes is how many children send at once. Defaults to 1.
	Processes int
	// Kills is the most children killed in the run; the run ends without killing more once
	// every job has arrived. Defaults to 8; a negative Kills kills none, and then any
	// duplicate fails the test.
	Kills int
	// Workers is each child's Config.Workers, which bounds the jobs a child holds when it
	// is killed: those sent whose outcomes are not yet written may be sent again. A Sender
	// holds at most heldPerWorker times Workers, so each kill may duplicate at most that
	// many. Defaults to 4.
	Workers int
	// Lease is each child's Config.Lease: how soon a killed child's jobs are sent by
	// another. A job that takes longer than its lease is sent twice, so a run without
	// kills, which must see no duplicates, may want a longer one. Defaults to 2 seconds.
	Lease time.Duration
}

// Result is what the receiver saw.
type Result struct {
	// Kills is how many times a child was killed.
	Kills int
	// Requests is how many requests arrived; Duplicates, how many of them repeated a
	// job that had arrived before.
	Requests, Duplicates int
}

// Environment variables that tell a child its role and what only the parent knows. The rest
// of the Config the child has already: it runs the same test, which calls Run with it.
const (
	envChild  = "WEBHOOK_CRASHTEST_CHILD"
	envShared = "WEBHOOK_CRASHTEST_SHARED"
	envURL    = "WEBHOOK_CRASHTEST_URL"
)

// Child timings: short, so that a killed child's leases expire soon, in real time, yet with
// a lease well beyond the request timeout, so that a live child slowed down by a busy
// machine does not see its own lease expire and send a job twice.
const (
	requestTimeout = 500 * time.Millisecond
	lease          = 2 * time.Second
	pollInterval   = 100 * time.Millisecond
	deadline       = 90 * time.Second // the whole run, and a child's life
)

// Run runs a crash test on the store that cfg opens and fails t if a job was lost, if
// the requests for one job carried different webhook-id headers, or if there were more
// duplicates than the kills can explain. It is skipped with -short. In a child process it
// runs the child and does not return.
func Run(t *testing.T, cfg Config) Result {
	cfg.Deliveries = cmp.Or(cfg.Deliveries, 300)
	cfg.Processes = cmp.Or(cfg.Processes, 1)
	cfg.Kills = cmp.Or(cfg.Kills, 8)
	if cfg.Kills < 0 {
		cfg.Kills = 0
	}
	cfg.Workers = cmp.Or(cfg.Workers, 4)
	if os.Getenv(envChild) != "" {
		runChild(cfg)
	}
	if testing.Short() {
		t.Skip("crash test skipped with -short")
	}
	p := &parent{t: t, cfg: cfg, ids: map[string][]string{}, progress: make(chan struct{}, 1),
		exits: make(chan *child, cfg.Processes+cfg.Kills)} // room for every child started
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.env = append(os.Environ(), envChild+"=1", envShared+"="+cfg.Setup(t), envURL+"="+srv.URL)
	return p.run()
}

// runChild runs a Sender on the store until the parent closes its stdin, and exits.
func runChild(cfg Config) {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "crashtest child: %s: %v\n", what, err)
		os.Exit(2)
	}
	go func() { // the parent holds stdin open while it lives
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println("started")
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	store, err := cfg.Open(ctx, os.Getenv(envShared))
	if err != nil {
		fail("open store", err)
	}
	s, err := webhook.NewSender(store, &webhook.Config{
		Workers: cfg.Workers, RequestTimeout: requestTimeout, Lease: cmp.Or(cfg.Lease, lease), PollInterval: pollInterval,
		AllowNetworks: webhooktest.LoopbackNetworks(),
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fail("new sender", err)
	}
	if ms, err := store.Messages(ctx, webhook.MessageQuery{ID: "campaign"}); err == nil && len(ms) == 0 {
		m := &webhook.Message{ID: "campaign", URL: os.Getenv(envURL) + "/{{ user.id }}",
			Data:     []webhook.Field{{Key: "user", Value: "{{ user.id }}"}},
			Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "launch"}}
		if err := s.SaveMessage(ctx, m); err != nil {
			fail("save message", err)
		}
	} else if err != nil {
		fail("load message", err)
	}
	if err := s.Start(ctx); err != nil {
		fail("start", err)
	}
	// The campaign's fan-out: an event with a fixed ID per user, so that a restarted child
	// enqueues only what its predecessors had not.
	for i := range cfg.Deliveries {
		if err := s.Trigger(ctx, webhook.Event{ID: "launch", UserID: fmt.Sprintf("u%d", i), Name: "launch"}); err != nil {
			fail("trigger", err)
		}
	}
	fmt.Println("enqueued")
	<-ctx.Done()
	fail("run", ctx.Err())
}

// parent runs the receiver and the children.
type parent struct {
	t        *testing.T
	cfg      Config
	env      []string
	progress chan struct{} // holds a signal when a request arrives
	exits    chan *child   // receives each child when it has exited

	mu       sync.Mutex          // guards ids and requests
	ids      map[string][]string // user ID → webhook-id of each request
	requests int
}

func (p *parent) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	p.mu.Lock()
	user := strings.TrimPrefix(r.URL.Path, "/")
	p.ids[user] = append(p.ids[user], r.Header.Get("Webhook-Id"))
	p.requests++
	p.mu.Unlock()
	select {
	case p.progress <- struct{}{}:
	default:
	}
}

// counts returns how many requests and distinct jobs have arrived.
func (p *parent) counts() (requests, distinct int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, len(p.ids)
}

// child is one child process.
type child struct {
	cmd     *exec.Cmd
	stdin   io.Closer
	stderr  *strings.Builder // guarded by mu, since the exec package writes it
	started chan struct{}    // closed when the child reports it started
	exited  chan struct{}    // closed when it has exited
	killed  bool             // set by kill; read by run, in the same goroutine
	mu      sync.Mutex       // guards stderr
}

// start starts a child process.
func (p *parent) start() *child {
	t := p.t
	c := &child{stderr: &strings.Builder{}, started: make(chan struct{}), exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1", "-test.v=false")
	c.cmd.Env = p.env
	c.cmd.Stderr = &lockedWriter{mu: &c.mu, w: c.stderr}
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdin = stdin
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "started" {
				close(c.started)
			}
		}
		_ = c.cmd.Wait()
		close(c.exited)
		p.exits <- c
	}()
	return c
}

// kill kills c with SIGKILL and waits for it to exit.
func (c *child) kill() {
	c.killed = true
	_ = c.cmd.Process.Kill()
	<-c.exited
	c.stdin.Close()
}

// runPattern is a -test.run pattern matching exactly the test named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, s := range parts {
		parts[i] = "^" + regexp.QuoteMeta(s) + "$"
	}
	return strings.Join(parts, "/")
}

func (p *parent) run() Result {
	t := p.t
	children := make([]*child, p.cfg.Processes)
	for i := range children {
		children[i] = p.start()
	}
	defer func() {
		for _, c := range children {
			c.kill()
		}
	}()
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	var res Result
	// Each kill comes when the children have made a random number of requests since the
	// last one; zero means as soon as the victim has started, before it sends anything.
	victim := rand.IntN(len(children))
	gap := max(p.cfg.Deliveries/(p.cfg.Kills+1), 1)
	target := rand.IntN(gap)
	base := 0
	for {
		requests, distinct := p.counts()
		if distinct == p.cfg.Deliveries {
			break
		}
		if res.Kills < p.cfg.Kills && target == 0 {
			select {
			case <-children[victim].started:
				target = -1 // kill now
			default:
			}
		}
		if res.Kills < p.cfg.Kills && (target < 0 || target > 0 && requests-base >= target) {
			children[victim].kill()
			children[victim] = p.start()
			res.Kills++
			victim, target, base = rand.IntN(len(children)), rand.IntN(gap), requests
			continue
		}
		var started <-chan struct{} // nil unless the next kill waits for the victim to start
		if res.Kills < p.cfg.Kills && target == 0 {
			started = children[victim].started
		}
		select {
		case <-p.progress:
		case <-started:
		case c := <-p.exits:
			if !c.killed {
				t.Fatalf("a child exited on its own: %v\n%s", c.cmd.ProcessState, p.stderr(children))
			}
		case <-timeout.C:
			_, distinct := p.counts()
			t.Fatalf("after %v, %d of %d deliveries arrived (%d kills); children's stderr:\n%s",
				deadline, distinct, p.cfg.Deliveries, res.Kills, p.stderr(children))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res.Requests = p.requests
	res.Duplicates = p.requests - len(p.ids)
	var mixed []string
	for user, ids := range p.ids {
		if slices.ContainsFunc(ids, func(id string) bool { return id != ids[0] }) {
			mixed = append(mixed, fmt.Sprintf("%s got %v", user, ids))
		}
	}
	if len(mixed) > 0 {
		t.Errorf("%d deliveries arrived with different webhook-ids, such as: %s", len(mixed), mixed[0])
	}
	if limit := res.Kills * heldPerWorker * p.cfg.Workers; res.Duplicates > limit {
		t.Errorf("%d duplicates after %d kills of children with %d workers, want at most %d", res.Duplicates, res.Kills, p.cfg.Workers, limit)
	}
	t.Logf("%d deliveries, %d processes, %d kills: %d requests, %d duplicates", p.cfg.Deliveries, p.cfg.Processes, res.Kills, res.Requests, res.Duplicates)
	return res
}

// stderr returns what the live children wrote to stderr.
func (p *parent) stderr(children []*child) string {
	var b strings.Builder
	for i, c := range children {
		c.mu.Lock()
		fmt.Fprintf(&b, "--- child %d:\n%s", i, c.stderr.String())
		c.mu.Unlock()
	}
	return b.String()
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
