package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/console"
	"github.com/hookline/webhook/store/memstore"
	"github.com/hookline/webhook/store/pgstore"
	"github.com/hookline/webhook/store/sqlitestore"
	"github.com/hookline/webhook/webhooktest"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"
)

// Hostile input: a user ID, a user attribute and a response body that try to run a script in
// the console's pages.
const (
	xssUser     = `<script>alert("user")</script>`
	xssAttr     = `"><img src=x onerror=alert("attr")>`
	xssResponse = `<script>alert("response")</script><img src=x onerror=alert(1)>`
)

// Secrets the message holds, which no page may show. (The message's api_key data field,
// "data-api-key", is sent in the body, which the attempt log keeps as it is: only the message
// page hides it.)
var secrets = []string{"hunter2", "sekret-bearer", "qs-token-value", "whsec_"}

// fixture is a Sender on memstore with a fake clock, a receiver on loopback whose status the
// test sets, and the console over it, served by an httptest.Server.
type fixture struct {
	ctx    context.Context
	sender *webhook.Sender
	clock  *webhooktest.FakeClock
	status atomic.Int32 // the receiver's reply
	hits   atomic.Int32 // requests the receiver got
	srv    *httptest.Server
	client *http.Client
}

// stores are the Stores the pages are tested over, by name: each call makes a new one.
var stores = []struct {
	name string
	open func(testing.TB) webhook.Store
}{
	{"memstore", func(testing.TB) webhook.Store { return memstore.New() }},
	{"sqlitestore", func(tb testing.TB) webhook.Store {
		db, err := sqlitestore.Open(tb.Context(), "sqlite", filepath.Join(tb.TempDir(), "hooks.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		s := sqlitestore.New(db)
		if err := s.Migrate(tb.Context()); err != nil {
			tb.Fatal(err)
		}
		return s
	}},
	{"pgstore", openPostgres},
}

// openPostgres returns a pgstore on a schema of its own in $WEBHOOK_TEST_POSTGRES, dropped
// when tb ends, or skips tb if the variable is not set.
func openPostgres(tb testing.TB) webhook.Store {
	dsn := os.Getenv("WEBHOOK_TEST_POSTGRES")
	if dsn == "" {
		tb.Skip("WEBHOOK_TEST_POSTGRES is not set; set it to a PostgreSQL DSN, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to test the console over pgstore")
	}
	ctx := context.Background()
	schema := fmt.Sprintf("webhook_console_%d", time.Now().UnixNano())
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		pool.Close()
	})
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	s := pgstore.New(pool)
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return s
}

// newFixture returns a fixture on memstore whose message "m" (basic auth, an Authorization
// header, a token in the query string, an api_key data field, signed) was sent to users and
// failed for good: the receiver answered 400 with a hostile body.
func newFixture(t testing.TB, opts *console.Options, users ...string) *fixture {
	t.Helper()
	return newFixtureOn(t, memstore.New(), opts, users...)
}

// newFixtureOn returns the fixture of newFixture on store.
func newFixtureOn(t testing.TB, store webhook.Store, opts *console.Options, users ...string) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	f := &fixture{ctx: ctx}
	f.status.Store(http.StatusBadRequest)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Set-Cookie", "session=receiver-cookie")
		w.WriteHeader(int(f.status.Load()))
		io.WriteString(w, xssResponse)
	}))
	t.Cleanup(recv.Close)
	f.sender, f.clock = webhooktest.NewSender(t, store, nil)
	err := f.sender.SaveMessage(ctx, &webhook.Message{
		ID: "m", Name: "Status update",
		URL:     strings.Replace(recv.URL, "http://", "http://api:hunter2@", 1) + "/hook/{{ user.id }}?token=qs-token-value&plain=1",
		Headers: []webhook.Field{{Key: "Authorization", Value: "Bearer sekret-bearer"}},
		Data:    []webhook.Field{{Key: "name", Value: "{{ userAttribute['name'] }}"}, {Key: "api_key", Value: "data-api-key"}},
		Secrets: []string{webhook.NewSecret()},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := f.sender.Identify(ctx, webhook.User{ID: u, Attributes: map[string]any{"name": xssAttr}}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.sender.Send(ctx, "m", u, map[string]any{"note": xssAttr}, nil); err != nil {
			t.Fatal(err)
		}
	}
	webhooktest.Start(t, f.sender)
	f.idle(t)
	if opts == nil {
		opts = &console.Options{}
	}
	opts.Clock = f.clock
	f.srv = httptest.NewServer(console.New(f.sender, opts))
	t.Cleanup(f.srv.Close)
	jar, _ := cookiejar.New(nil)
	f.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

// get serves a GET of path with h, without a network.
func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// idle waits until the Sender has attempted and logged every job due.
func (f *fixture) idle(t testing.TB) {
	t.Helper()
	if err := f.clock.BlockUntil(f.ctx, 1); err != nil {
		t.Fatalf("waiting for the sender to be idle: %v", err)
	}
}

// get returns the status and body of the page at path.
func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := f.client.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// csrfField finds the token in a page's form.
var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post posts form to path with the token of the page at from, as a browser on the console's
// origin does, and returns the response's status and Location.
func (f *fixture) post(t *testing.T, from, path string, form url.Values) (int, string) {
	t.Helper()
	_, page := f.get(t, from)
	if m := csrfField.FindStringSubmatch(page); m != nil && form.Get("csrf") == "" {
		form.Set("csrf", m[1])
	}
	return f.postAs(t, f.client, "same-origin", path, form)
}

// postAs posts form to path with client, whose cookies are the browser's, with the
// Sec-Fetch-Site header site unless it is "", and returns the response's status and
// Location.
func (f *fixture) postAs(t *testing.T, client *http.Client, site, path string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// jobs returns the jobs of message m in state st.
func (f *fixture) jobs(t testing.TB, st webhook.JobState) []*webhook.Job {
	t.Helper()
	page, err := f.sender.Jobs(f.ctx, webhook.JobsQuery{MessageID: "m", States: []webhook.JobState{st}})
	if err != nil {
		t.Fatal(err)
	}
	return page.Jobs
}

func TestPages(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testPages(t, newFixtureOn(t, st.open(t), nil, "u1", "u2", "u3")) })
	}
}

func testPages(t *testing.T, f *fixture) {
	failed := f.jobs(t, webhook.JobFailed)
	if len(failed) != 3 {
		t.Fatalf("%d failed jobs, want 3", len(failed))
	}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"overview", "/", []string{`<a href="/messages/m">m</a>`, `<a href="/jobs?message=m&amp;state=failed">3</a>`, "127.0.0.1", "0.0%", "closed"}},
		{"message", "/messages/m", []string{"Status update", "3 users", "POST http://api:REDACTED@127.0.0.1", "token=REDACTED&amp;plain=1", "not started", "yes, with 1 secret(s) (not shown)"}},
		{"jobs filtered", "/jobs?message=m&state=failed", []string{failed[0].ID, failed[2].ID, `value="failed" checked`, "Replay the jobs of this filter"}},
		{"jobs of user", "/jobs?user=u2", []string{`<a href="/jobs?user=u2">u2</a>`}},
		{"job", "/jobs/" + failed[0].ID, []string{"#1", "outcome-failed", "Response 400", "Webhook-Id: " + failed[0].ID, `id="replay-job"`}},
		{"replay confirmation", "/replay?message=m&state=failed", []string{`<strong id="replay-count">3</strong>`, `id="replay-confirm"`, `name="state" value="failed"`}},
		{"attempts 4xx failed", "/attempts?outcome=failed&status=4", []string{failed[0].ID, failed[2].ID, `value="failed" checked`, `<option value="4" selected>4xx</option>`, "unexpected status 400"}},
		{"attempts 5xx", "/attempts?status=5", []string{`id="no-attempts"`}},
		{"search form", "/search", []string{`name="q"`}},
		{"stylesheet", "/static/console.css", []string{"no script runs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.get(t, tc.path)
			if status != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200\n%s", tc.path, status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s does not contain %q\n%s", tc.path, w, body)
				}
			}
		})
	}
	if _, body := f.get(t, "/jobs"); strings.Contains(body, "replay-filter") {
		t.Errorf("the unfiltered job list offers to replay everything:\n%s", body)
	}
	if _, body := f.get(t, "/jobs?user=u2"); strings.Contains(body, "u1") {
		t.Errorf("GET /jobs?user=u2 lists another user's job:\n%s", body)
	}
}

func TestPaging(t *testing.T) {
	users := make([]string, 5)
	for i := range users {
		users[i] = fmt.Sprintf("u%d", i)
	}
	f := newFixture(t, &console.Options{PageSize: 2}, users...)
	for _, first := range []string{"/jobs?state=failed", "/attempts?outcome=failed"} {
		t.Run(first, func(t *testing.T) {
			next := regexp.MustCompile(`id="next" href="([^"]+)"`)
			_, filter, _ := strings.Cut(first, "?")
			seen := map[string]bool{}
			path := first
			for pages := 0; path != ""; pages++ {
				if pages == 5 {
					t.Fatal("more than 3 pages of 2 for 5 jobs")
				}
				_, body := f.get(t, strings.ReplaceAll(path, "&amp;", "&"))
				if hasFirst := strings.Contains(body, `<a href="`+first+`">First page</a>`); hasFirst != (pages > 0) {
					t.Errorf("page %d links to the first page: %t, want %t", pages+1, hasFirst, pages > 0)
				}
				for _, id := range regexp.MustCompile(`<code>(job_[0-9a-z]+)</code>`).FindAllStringSubmatch(body, -1) {
					if seen[id[1]] {
						t.Errorf("job %s on two pages", id[1])
					}
					seen[id[1]] = true
				}
				path = ""
				if m := next.FindStringSubmatch(body); m != nil {
					path = m[1]
					if !strings.Contains(path, filter) {
						t.Errorf("next page %q lost the filter %s", path, filter)
					}
				}
			}
			if len(seen) != 5 {
				t.Errorf("saw %d jobs over the pages, want 5", len(seen))
			}
		})
	}
}

// The attempt log's user, since and until parameters select the attempts they name.
func TestAttemptLogFilter(t *testing.T) {
	f := newFixture(t, nil, "u1", "u2")
	jobOf := map[string]string{}
	for _, j := range f.jobs(t, webhook.JobFailed) {
		jobOf[j.UserID] = j.ID
	}
	hour := func(n int) string {
		return f.clock.Now().Add(time.Duration(n) * time.Hour).UTC().Format("2006-01-02T15:04:05")
	}
	for _, tc := range []struct {
		query    string
		want     []string // the users whose job the page lists
		excluded []string // those whose job it does not
	}{
		{"user=u2", []string{"u2"}, []string{"u1"}},
		{"since=" + hour(-1) + "&until=" + hour(1), []string{"u1", "u2"}, nil},
		{"since=" + hour(1), nil, []string{"u1", "u2"}},
		{"until=" + hour(-1), nil, []string{"u1", "u2"}},
	} {
		status, body := f.get(t, "/attempts?"+tc.query)
		if status != http.StatusOK {
			t.Fatalf("GET /attempts?%s = %d\n%s", tc.query, status, body)
		}
		for _, u := range tc.want {
			if !strings.Contains(body, "<code>"+jobOf[u]+"</code>") {
				t.Errorf("GET /attempts?%s does not list %s's attempt", tc.query, u)
			}
		}
		for _, u := range tc.excluded {
			if strings.Contains(body, "<code>"+jobOf[u]+"</code>") {
				t.Errorf("GET /attempts?%s lists %s's attempt", tc.query, u)
			}
		}
	}
}

// The message page lists the message's older versions as well, the overview its current
// name, and a campaign with no fan-out left is shown finished.
func TestMessageVersionsAndCampaign(t *testing.T) {
	f := newFixture(t, nil, "u1")
	m, err := f.sender.Message(f.ctx, "m", 0)
	if err != nil {
		t.Fatal(err)
	}
	m.Name = "Renamed"
	if err := f.sender.SaveMessage(f.ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := f.sender.StartCampaign(f.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	f.idle(t)
	_, body := f.get(t, "/messages/m")
	for _, w := range []string{"<h3>Version 2: Renamed</h3>", "<h3>Version 1: Status update</h3>", `<dd id="campaign-state">finished</dd>`, "(application/json)"} {
		if !strings.Contains(body, w) {
			t.Errorf("the message page does not contain %q:\n%s", w, body)
		}
	}
	if _, body := f.get(t, "/"); !strings.Contains(body, `<span class="muted">Renamed</span>`) {
		t.Errorf("the overview does not name the message:\n%s", body)
	}
}

func TestSearch(t *testing.T) {
	f := newFixture(t, nil, "u1")
	id := f.jobs(t, webhook.JobFailed)[0].ID
	for _, tc := range []struct{ q, want string }{
		{id, "/jobs/" + id},
		{"u1", "/jobs?user=u1"},
		{"m", "/messages/m"},
		{"a b/c", "/jobs?user=a+b%2Fc"},
	} {
		resp, err := f.client.Get(f.srv.URL + "/search?q=" + url.QueryEscape(tc.q))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != tc.want {
			t.Errorf("search %q = %d to %q, want 303 to %q", tc.q, resp.StatusCode, got, tc.want)
		}
	}
}

// Everything rendered is escaped: a user ID, a user attribute (in the request body and the
// job's parameters) and the receiver's response are hostile input.
func TestEscapesHostileInput(t *testing.T) {
	f := newFixture(t, nil, xssUser)
	id := f.jobs(t, webhook.JobFailed)[0].ID
	for _, path := range []string{"/", "/messages/m", "/jobs", "/jobs?user=" + url.QueryEscape(xssUser), "/jobs/" + id, "/replay?user=" + url.QueryEscape(xssUser), "/attempts", "/attempts?user=" + url.QueryEscape(xssUser)} {
		status, body := f.get(t, path)
		if status != http.StatusOK {
			t.Fatalf("GET %s = %d, want 200", path, status)
		}
		for _, raw := range []string{xssUser, xssAttr, xssResponse, "<script", "<img"} {
			if strings.Contains(body, raw) {
				t.Errorf("GET %s has %q unescaped", path, raw)
			}
		}
	}
	_, body := f.get(t, "/jobs/"+id)
	for _, escaped := range []string{"&lt;script&gt;alert(&#34;response&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(\\&#34;attr\\&#34;)&gt;"} {
		if !strings.Contains(body, escaped) {
			t.Errorf("the job page does not show %q: the hostile input should be shown, escaped", escaped)
		}
	}
}

// No page shows a secret: the URL's password, an Authorization header, a token in the query
// string, a data field named as a key, a signing secret, or a cookie the receiver set.
func TestHidesSecrets(t *testing.T) {
	f := newFixture(t, nil, "u1")
	id := f.jobs(t, webhook.JobFailed)[0].ID
	for _, path := range []string{"/", "/messages/m", "/jobs", "/jobs/" + id, "/replay?message=m", "/attempts"} {
		_, body := f.get(t, path)
		for _, s := range append(secrets, "receiver-cookie") {
			if strings.Contains(body, s) {
				t.Errorf("GET %s shows the secret %q", path, s)
			}
		}
	}
	_, body := f.get(t, "/jobs/"+id)
	for _, w := range []string{"Authorization: REDACTED", "Set-Cookie: REDACTED", "token=REDACTED&amp;plain=1"} {
		if !strings.Contains(body, w) {
			t.Errorf("the job page does not show %q", w)
		}
	}
	// A job waiting for a retry keeps its rendered request, with its credentials.
	f.status.Store(http.StatusServiceUnavailable)
	retrying, err := f.sender.Send(f.ctx, "m", "u1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.idle(t)
	if j, err := f.sender.Job(f.ctx, retrying); err != nil || j.Request == nil {
		t.Fatalf("the job waiting for a retry has no rendered request (%v)", err)
	}
	_, body = f.get(t, "/jobs/"+retrying)
	if !strings.Contains(body, "Rendered request") || !strings.Contains(body, "Authorization: REDACTED") || !strings.Contains(body, "Next retry") {
		t.Errorf("the page of a job waiting for a retry does not show its redacted request and next retry:\n%s", body)
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("the page of a job waiting for a retry shows the secret %q", s)
		}
	}
	if _, body := f.get(t, "/messages/m"); strings.Contains(body, "data-api-key") || !strings.Contains(body, "<td>api_key</td><td><code>REDACTED</code>") {
		t.Errorf("the message page does not redact the api_key data field:\n%s", body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := f.client.Get(f.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if c := resp.Cookies(); len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/" {
		t.Errorf("cookies = %v, want one HttpOnly SameSite=Strict cookie with Path /", c)
	}
}

// A POST needs the token of the browser's cookie, and is refused from another origin.
func TestCSRF(t *testing.T) {
	f := newFixture(t, nil, "u1")
	id := f.jobs(t, webhook.JobFailed)[0].ID
	page := "/jobs/" + id
	action := "/jobs/" + id + "/retry"
	if status, _ := f.post(t, page, action, url.Values{"csrf": {"forged"}}); status != http.StatusForbidden {
		t.Errorf("POST with a wrong token = %d, want 403", status)
	}

	_, body := f.get(t, page)
	token := csrfField.FindStringSubmatch(body)[1]
	if status, _ := f.postAs(t, f.client, "cross-site", action, url.Values{"csrf": {token}}); status != http.StatusForbidden {
		t.Errorf("cross-site POST with the right token = %d, want 403", status)
	}

	other := &http.Client{} // no cookie: a token copied from another browser is of no use
	if status, _ := f.postAs(t, other, "", action, url.Values{"csrf": {token}}); status != http.StatusForbidden {
		t.Errorf("POST without the cookie = %d, want 403", status)
	}
	if n := len(f.jobs(t, webhook.JobFailed)); n != 1 {
		t.Fatalf("a refused POST changed the job: %d failed jobs, want 1", n)
	}

	if status, loc := f.post(t, page, action, url.Values{}); status != http.StatusSeeOther || loc != page+"?done=replayed" {
		t.Errorf("POST with the token = %d to %q, want 303 to %s?done=replayed", status, loc, page)
	}
}

func TestReadOnly(t *testing.T) {
	key := []byte("a key of thirty-two bytes, for tests")
	f := newFixture(t, &console.Options{ReadOnly: true, CSRFKey: key}, "u1")
	id := f.jobs(t, webhook.JobFailed)[0].ID
	for _, path := range []string{"/jobs/" + id, "/jobs?state=failed", "/replay?state=failed", "/messages/m"} {
		_, body := f.get(t, path)
		if strings.Contains(body, `<button type="submit" id="`) || strings.Contains(body, "Replay the jobs") || strings.Contains(body, `method="post"`) {
			t.Errorf("read-only GET %s shows a button:\n%s", path, body)
		}
	}
	// A writable console with the same key serves the form, with a valid token and cookie
	// (cookies do not tell ports apart): the read-only console refuses the POST all the same.
	writable := httptest.NewServer(console.New(f.sender, &console.Options{CSRFKey: key}))
	defer writable.Close()
	resp, err := f.client.Get(writable.URL + "/jobs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := csrfField.FindSubmatch(b)
	if token == nil {
		t.Fatal("the writable console's job page has no form")
	}
	if status, _ := f.post(t, "/jobs/"+id, "/jobs/"+id+"/retry", url.Values{"csrf": {string(token[1])}}); status != http.StatusForbidden {
		t.Errorf("read-only POST = %d, want 403", status)
	}
	if n := len(f.jobs(t, webhook.JobFailed)); n != 1 {
		t.Errorf("a read-only POST changed the job: %d failed jobs, want 1", n)
	}
}

// Replay by filter: the confirmation page counts the jobs, the POST replays them, and they
// are sent again with their IDs.
func TestReplayByFilter(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			var log strings.Builder // written by the handler's goroutine, read after its response
			opts := &console.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}
			testReplayByFilter(t, newFixtureOn(t, st.open(t), opts, "u1", "u2", "u3"))
			want := `level=INFO msg="console action" path=/replay form="message=m&state=failed" result="/jobs?done=replay&message=m&n=3"`
			if !strings.Contains(log.String(), want) || strings.Contains(log.String(), "csrf") {
				t.Errorf("the log = %q, want a record %s, without the token", log.String(), want)
			}
		})
	}
}

func testReplayByFilter(t *testing.T, f *fixture) {
	f.status.Store(http.StatusOK)
	status, loc := f.post(t, "/replay?message=m&state=failed", "/replay", url.Values{"message": {"m"}, "state": {"failed"}})
	if status != http.StatusSeeOther || loc != "/jobs?done=replay&message=m&n=3" {
		t.Fatalf("POST /replay = %d to %q, want 303 to /jobs?done=replay&message=m&n=3", status, loc)
	}
	f.idle(t)
	if n := len(f.jobs(t, webhook.JobSucceeded)); n != 3 {
		t.Errorf("%d jobs succeeded after the replay, want 3", n)
	}
	if got := f.hits.Load(); got != 6 {
		t.Errorf("the receiver got %d requests, want 3 then 3 replays", got)
	}
	_, body := f.get(t, loc)
	if !strings.Contains(body, "3 jobs were replayed") {
		t.Errorf("the list after the replay does not say so:\n%s", body)
	}
	_, body = f.get(t, "/jobs/"+f.jobs(t, webhook.JobSucceeded)[0].ID)
	if !strings.Contains(body, `<span class="tag">replay</span>`) {
		t.Errorf("the job page does not mark the replayed attempt:\n%s", body)
	}
	if status, _ := f.get(t, "/replay"); status != http.StatusBadRequest {
		t.Errorf("GET /replay with no filter = %d, want 400 (replaying the whole log is refused)", status)
	}
}

// The job list's and the replay's message, since and before parameters select the jobs they
// name: a replay does not reach past the filter it shows.
func TestJobFilter(t *testing.T) {
	f := newFixture(t, nil, "u1", "u2")
	created := f.jobs(t, webhook.JobFailed)[0].CreatedAt // both jobs were created then
	at := func(d time.Duration) string { return created.Add(d).UTC().Format(time.RFC3339Nano) }
	for query, want := range map[string]int{
		"message=m":     2,
		"message=other": 0,
		"message=m&since=" + at(0) + "&before=" + at(time.Second): 2,
		"message=m&before=" + at(0):                               0,
		"message=m&since=" + at(time.Second):                      0,
	} {
		path := "/replay?" + query
		if _, body := f.get(t, path); !strings.Contains(body, fmt.Sprintf(`<strong id="replay-count">%d</strong>`, want)) {
			t.Errorf("GET %s does not count %d jobs:\n%s", path, want, body)
		}
		path = "/jobs?" + query
		if _, body := f.get(t, path); strings.Contains(body, `id="no-jobs"`) != (want == 0) {
			t.Errorf("GET %s lists jobs: %t, want %t", path, !strings.Contains(body, `id="no-jobs"`), want > 0)
		}
	}
}

// A filter's times keep their fractions of a second from the page that shows the count to the
// replay it posts, and to the list's next pages, so that they select the same jobs.
func TestFilterKeepsFractionsOfASecond(t *testing.T) {
	f := newFixture(t, &console.Options{PageSize: 1}, "u1", "u2")
	f.status.Store(http.StatusOK)
	created := f.jobs(t, webhook.JobFailed)[0].CreatedAt
	filter := url.Values{"message": {"m"}, "before": {created.Add(time.Second / 2).UTC().Format(time.RFC3339Nano)}}
	_, body := f.get(t, "/replay?"+filter.Encode())
	if !strings.Contains(body, `<strong id="replay-count">2</strong>`) {
		t.Fatalf("the replay page of jobs created before %s does not count both:\n%s", filter.Get("before"), body)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="(message|before)" value="([^"]+)">`).FindAllStringSubmatch(body, -1) {
		form.Add(m[1], m[2])
	}
	if status, loc := f.post(t, "/replay?"+filter.Encode(), "/replay", form); status != http.StatusSeeOther || !strings.Contains(loc, "n=2") {
		t.Errorf("POST /replay of the page's form %v = %d to %q, want both jobs replayed, as the page counted", form, status, loc)
	}
	_, body = f.get(t, "/jobs?"+filter.Encode())
	next := regexp.MustCompile(`id="next" href="([^"]+)"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("the first page of one job has no next page:\n%s", body)
	}
	if _, body = f.get(t, strings.ReplaceAll(next[1], "&amp;", "&")); !strings.Contains(body, `<table id="jobs">`) {
		t.Errorf("the next page of jobs created before %s is empty:\n%s", filter.Get("before"), body)
	}
	until := url.Values{"until": filter["before"]} // the first attempts were made when the jobs were created
	_, body = f.get(t, "/attempts?"+until.Encode())
	if next = regexp.MustCompile(`id="next" href="([^"]+)"`).FindStringSubmatch(body); next == nil {
		t.Fatalf("the first page of one attempt has no next page:\n%s", body)
	}
	if _, body = f.get(t, strings.ReplaceAll(next[1], "&amp;", "&")); !strings.Contains(body, "/jobs/job_") {
		t.Errorf("the next page of attempts until %s is empty:\n%s", until.Get("until"), body)
	}
}

func TestJobAndCampaignActions(t *testing.T) {
	f := newFixture(t, nil)
	f.clock.Advance(0)
	if err := f.sender.Identify(f.ctx, webhook.User{ID: "later"}); err != nil {
		t.Fatal(err)
	}
	id, err := f.sender.Send(f.ctx, "m", "later", nil, &webhook.SendOptions{At: f.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	page := "/jobs/" + id
	_, body := f.get(t, page)
	if !strings.Contains(body, `id="retry-job"`) || !strings.Contains(body, `id="cancel-job"`) {
		t.Fatalf("a scheduled job's page lacks Retry now and Cancel:\n%s", body)
	}
	if status, loc := f.post(t, page, page+"/cancel", url.Values{}); status != http.StatusSeeOther || loc != page+"?done=cancelled" {
		t.Errorf("cancel = %d to %q", status, loc)
	}
	if j, err := f.sender.Job(f.ctx, id); err != nil || j.State != webhook.JobCancelled {
		t.Errorf("after cancel the job is %v (%v), want cancelled", j.State, err)
	}
	if _, body := f.get(t, page); strings.Contains(body, `id="cancel-job"`) || !strings.Contains(body, `id="replay-job"`) {
		t.Errorf("a cancelled job's page offers Cancel, or not Replay:\n%s", body)
	}
	if status, _ := f.post(t, page, page+"/cancel", url.Values{}); status != http.StatusBadRequest {
		t.Errorf("cancel a cancelled job = %d, want 400", status)
	}
	if status, _ := f.post(t, page, page+"/explode", url.Values{}); status != http.StatusNotFound {
		t.Errorf("POST an unknown action = %d, want 404", status)
	}

	if err := f.sender.StartCampaign(f.ctx, "m"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ action, button, state string }{{"pause", "pause", "paused"}, {"resume", "resume", "running"}, {"cancel", "cancel-campaign", "cancelled"}} {
		if _, body := f.get(t, "/messages/m"); !strings.Contains(body, `id="`+step.button+`"`) {
			t.Errorf("before %s, the message page has no %s button:\n%s", step.action, step.button, body)
		}
		if status, _ := f.post(t, "/messages/m", "/messages/m/"+step.action, url.Values{}); status != http.StatusSeeOther {
			t.Errorf("%s = %d, want 303", step.action, status)
		}
		if c, err := f.sender.Campaign(f.ctx, "m"); err != nil || string(c.State) != step.state {
			t.Errorf("after %s the campaign is %v (%v), want %s", step.action, c.State, err, step.state)
		}
	}
	if _, body := f.get(t, "/messages/m"); strings.Contains(body, `method="post"`) {
		t.Errorf("a cancelled campaign's page has buttons:\n%s", body)
	}

	// A Triggered message runs from the start, with no campaign saved: it can be paused.
	err = f.sender.SaveMessage(f.ctx, &webhook.Message{ID: "t", URL: "https://example.com/", Delivery: webhook.Delivery{Kind: webhook.Triggered, Event: "e"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, body := f.get(t, "/messages/t"); !strings.Contains(body, `<dd id="campaign-state">running</dd>`) || !strings.Contains(body, `id="pause"`) {
		t.Errorf("a triggered message's page does not show it running with a Pause button:\n%s", body)
	}
	if status, _ := f.post(t, "/messages/t", "/messages/t/pause", url.Values{}); status != http.StatusSeeOther {
		t.Errorf("pause a triggered message = %d, want 303", status)
	}
	if c, err := f.sender.Campaign(f.ctx, "t"); err != nil || c.State != webhook.CampaignPaused {
		t.Errorf("after pause the triggered message's campaign is %v (%v), want paused", c, err)
	}
	// A job held by the paused campaign can be cancelled, but not retried: the Sender would
	// hold it again at once.
	if err := f.sender.Trigger(f.ctx, webhook.Event{UserID: "later", Name: "e"}); err != nil {
		t.Fatal(err)
	}
	held, err := f.sender.Jobs(f.ctx, webhook.JobsQuery{MessageID: "t", States: []webhook.JobState{webhook.JobHeld}})
	if err != nil || len(held.Jobs) != 1 {
		t.Fatalf("held jobs of the paused message = %+v, %v; want one", held.Jobs, err)
	}
	if _, body := f.get(t, "/jobs/"+held.Jobs[0].ID); strings.Contains(body, `id="retry-job"`) || !strings.Contains(body, `id="cancel-job"`) {
		t.Errorf("a held job's page offers Retry now, or not Cancel:\n%s", body)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, nil)
	for path, want := range map[string]int{
		"/jobs/job_nope":                 http.StatusNotFound,
		"/messages/nope":                 http.StatusNotFound,
		"/jobs?state=bogus":              http.StatusBadRequest,
		"/jobs?since=yesterday":          http.StatusBadRequest,
		"/replay?state=scheduled":        http.StatusBadRequest,
		"/nope":                          http.StatusNotFound,
		"/jobs?since=2030-01-07T09:00":   http.StatusOK,
		"/jobs?before=2030-01-07T09:00Z": http.StatusBadRequest,
		"/attempts?status=7":             http.StatusBadRequest,
		"/attempts?outcome=bogus":        http.StatusBadRequest,
		"/attempts?until=soon":           http.StatusBadRequest,
		"/jobs?cursor=garbage":           http.StatusBadRequest,
		"/attempts?cursor=garbage":       http.StatusBadRequest,
	} {
		if status, body := f.get(t, path); status != want {
			t.Errorf("GET %s = %d, want %d\n%s", path, status, want, body)
		}
	}
	if _, body := f.get(t, "/jobs?since=yesterday"); !strings.Contains(body, "since &#34;yesterday&#34; is not a time") {
		t.Errorf("the error page does not name the parameter:\n%s", body)
	}
}

// hiddenInspector is a Store without the optional Inspector role.
type hiddenInspector struct{ webhook.Store }

func TestStoreWithoutInspector(t *testing.T) {
	s, _ := webhooktest.NewSender(t, hiddenInspector{memstore.New()}, nil)
	srv := httptest.NewServer(console.New(s, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/jobs")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(b), "webhook.Inspector") {
		t.Errorf("GET /jobs over a Store without Inspector = %d, want 501 naming the role:\n%s", resp.StatusCode, b)
	}
}

// Mounted under a prefix with http.StripPrefix, every link and form starts with the prefix.
func TestMountedUnderPrefix(t *testing.T) {
	f := newFixture(t, nil, "u1")
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", console.New(f.sender, nil)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	id := f.jobs(t, webhook.JobFailed)[0].ID
	for _, path := range []string{"/ops/", "/ops/jobs/" + id} {
		resp, err := f.client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
		links := regexp.MustCompile(`(?:href|action)="([^"]*)"`).FindAllStringSubmatch(body, -1)
		if len(links) < 5 {
			t.Fatalf("GET %s has %d links", path, len(links))
		}
		for _, l := range links {
			if !strings.HasPrefix(l[1], "/ops/") {
				t.Errorf("GET %s links to %q, outside /ops/", path, l[1])
			}
		}
		if c := resp.Cookies(); len(c) == 1 && c[0].Path != "/ops/" {
			t.Errorf("cookie path = %q, want /ops/", c[0].Path)
		}
	}
	// A handler that does not clean paths, such as StripPrefix under a mux's pattern with a
	// host, may pass "//host/ops/" on: the links do not point at that host.
	// Nor may a pattern's wildcard, such as /{tenant}/ops/, pass `/\host/ops/` on, which
	// browsers read as "//host/ops/".
	for _, prefix := range []string{"//elsewhere.example/ops", `/\elsewhere.example/ops`} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.RequestURI = prefix+"/jobs", prefix+"/jobs"
		http.StripPrefix(prefix, console.New(f.sender, nil)).ServeHTTP(rec, req)
		if body := rec.Body.String(); rec.Code != http.StatusOK || strings.Contains(body, "elsewhere") && !strings.Contains(body, "%5celsewhere") {
			t.Errorf("GET %s/jobs = %d, links to another host:\n%s", prefix, rec.Code, body)
		}
		rec = httptest.NewRecorder()
		req = httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery, req.RequestURI = prefix+"/search", "q=someone", prefix+"/search?q=someone"
		http.StripPrefix(prefix, console.New(f.sender, nil)).ServeHTTP(rec, req)
		if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || strings.Contains(loc, "elsewhere") {
			t.Errorf("GET %s/search?q=someone = %d to %q, want a redirect on this host", prefix, rec.Code, loc)
		}
	}

	// A request line in the absolute form, as to a proxy, names the host: links keep only
	// the path.
	rec := get(mux, "http://elsewhere.example/ops/jobs")
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, `action="/ops/jobs"`) || strings.Contains(body, "elsewhere") {
		t.Errorf("GET in the absolute form = %d, want links under /ops/ without the host:\n%s", rec.Code, body)
	}
}

// sendTo saves a message "m" to url on s and sends it to users; it returns a context that
// ends with the test, at the latest 30 seconds on, and the jobs' IDs.
func sendTo(t *testing.T, s *webhook.Sender, url string, users ...string) (context.Context, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	if err := s.SaveMessage(ctx, &webhook.Message{ID: "m", URL: url}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range users {
		id, err := s.Send(ctx, "m", u, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ctx, ids
}

// leakyStore is a Store of the app's own that keeps attempts with their credentials, as the
// Sender never writes them.
type leakyStore struct{ *memstore.Store }

func (s leakyStore) FindAttempts(ctx context.Context, p webhook.FindAttemptsParams) ([]webhook.Attempt, error) {
	as, err := s.Store.FindAttempts(ctx, p)
	for i := range as {
		as[i].URL = "https://api:hunter2@example.com/hook?token=qs-token-value"
		as[i].RequestHeader = http.Header{"Authorization": {"Bearer sekret-bearer"}}
		as[i].ResponseHeader = http.Header{"Set-Cookie": {"session=receiver-cookie"}}
	}
	return as, err
}

// The job page redacts what a Store returns, whoever wrote it.
func TestRedactsAttemptsFromTheStore(t *testing.T) {
	s, clock := webhooktest.NewSender(t, leakyStore{memstore.New()}, nil)
	ctx, ids := sendTo(t, s, webhooktest.NewReceiver(t).URL+"/hook", "u1")
	webhooktest.Start(t, s)
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	body := get(console.New(s, nil), "/jobs/"+ids[0]).Body.String()
	if !strings.Contains(body, "Authorization: REDACTED") {
		t.Fatalf("the job page shows no redacted attempt:\n%s", body)
	}
	for _, s := range append(secrets, "receiver-cookie") {
		if strings.Contains(body, s) {
			t.Errorf("the job page shows the secret %q", s)
		}
	}
}

// The overview shows how long the oldest due job has waited, on the console's Clock.
func TestOverviewQueueLag(t *testing.T) {
	s, clock := webhooktest.NewSender(t, memstore.New(), nil) // not started: nothing is sent
	sendTo(t, s, "https://example.com/", "u1", "u2")
	clock.Advance(90 * time.Second)
	body := get(console.New(s, &console.Options{Clock: clock}), "/").Body.String()
	for _, want := range []string{`<dd id="lag">1m30s</dd>`, `<a href="/jobs?state=scheduled">2</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview does not show %s:\n%s", want, body)
		}
	}
}

// The overview shows a host's breaker open once enough attempts to it failed in a row.
func TestOverviewBreakerOpen(t *testing.T) {
	recv := webhooktest.NewReceiver(t)
	recv.SetStatus(http.StatusServiceUnavailable)
	s, clock := webhooktest.NewSender(t, memstore.New(), &webhook.Config{BreakerThreshold: 2})
	ctx, _ := sendTo(t, s, recv.URL+"/hook", "u1", "u2", "u3")
	webhooktest.Start(t, s)
	if err := clock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	body := get(console.New(s, &console.Options{Clock: clock}), "/").Body.String()
	if !strings.Contains(body, `<span class="breaker breaker-open">open</span>`) {
		t.Errorf("the overview does not show the host's breaker open:\n%s", body)
	}
}

// The overview lists the first 200 messages and says that there are more.
func TestOverviewManyMessages(t *testing.T) {
	s, _ := webhooktest.NewSender(t, memstore.New(), nil)
	for i := range 203 {
		if err := s.SaveMessage(t.Context(), &webhook.Message{ID: fmt.Sprintf("m%03d", i), URL: "https://example.com/"}); err != nil {
			t.Fatal(err)
		}
	}
	body := get(console.New(s, nil), "/").Body.String()
	if n := strings.Count(body, `<a href="/messages/`); n != 200 || !strings.Contains(body, "m199") || strings.Contains(body, "m200") {
		t.Errorf("the overview lists %d messages, want m000 to m199", n)
	}
	if !strings.Contains(body, "More messages are not listed") {
		t.Errorf("the overview does not say that it left messages out:\n%s", body)
	}
}
