package console_test

import (
	"context"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/hookline/webhook"
)

var screenshots = flag.Bool("screenshots", false, "TestBrowser saves a screenshot of each page under testdata/console")

// chromium returns the path of the Chromium to run: $WEBHOOK_TEST_CHROMIUM, which must exist
// if it is set (CI sets it, so that the browser test fails rather than skips), or chromium or
// chromium-browser on the PATH. It skips the test if there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WEBHOOK_TEST_CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("WEBHOOK_TEST_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found: install Debian's chromium (apt-get install -y chromium) or set WEBHOOK_TEST_CHROMIUM to its path")
	return ""
}

// TestBrowser drives the console in a real browser as an operator would: jobs failed, the
// operator filters the failed ones, replays them through the confirmation step, and sees them
// sent. With -screenshots it saves each page under testdata/console.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	f := newFixture(t, nil, "ana", "bo", "cy")
	f.sender.Identify(f.ctx, webhook.User{ID: "dee"})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1280, 900),
		// The test's traffic stays on loopback: no updates, pings or reports.
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	ctx, cancel := chromedp.NewExecAllocator(f.ctx, opts...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx, chromedp.WithLogf(t.Logf))
	defer cancel()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	// load runs trigger and waits for the page it leads to.
	load := func(trigger chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.WaitEvent(page.LoadEventFired, nil, trigger)(ctx, tg)
			return err
		})
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if !*screenshots {
				return nil
			}
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			dir := filepath.Join("testdata", "console")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		})
	}
	const states = `[...document.querySelectorAll("#jobs tbody .state")].map(e => e.textContent).join(",")`

	do("open the overview", chromedp.Navigate(f.srv.URL+"/"), shot("overview"))
	if got := text("#messages"); !strings.Contains(got, "Status update") {
		t.Errorf("the overview's messages table = %q, want the message", got)
	}

	do("filter the failed jobs",
		load(chromedp.Click(chromedp.CSS(`header nav a[href="/jobs"]`))),
		chromedp.Click(chromedp.CSS(`input[name="state"][value="failed"]`)),
		load(chromedp.Submit(chromedp.CSS(`form.filter`))),
		shot("jobs"),
	)
	if got := eval(states); got != "failed,failed,failed" {
		t.Fatalf("the failed jobs list shows states %q, want three failed", got)
	}
	list := eval(`location.href`)

	do("open a job",
		load(chromedp.Click(chromedp.CSS(`#jobs tbody tr:first-child td:first-child a`))),
		shot("job"),
	)
	if got := text("#attempts"); !strings.Contains(got, "Response 400") || !strings.Contains(got, "Authorization: REDACTED") {
		t.Errorf("the job page's attempts = %q, want the 400 response and the redacted request", got)
	}

	do("see why they failed",
		load(chromedp.Click(chromedp.CSS(`header nav a[href="/attempts"]`))),
		chromedp.Click(chromedp.CSS(`input[name="outcome"][value="failed"]`)),
		load(chromedp.Submit(chromedp.CSS(`form.filter`))),
		shot("attempts"),
	)
	if got := eval(`[...document.querySelectorAll("#attempts tbody td.error")].map(e => e.textContent).join(",")`); got != strings.Repeat("unexpected status 400 Bad Request,", 2)+"unexpected status 400 Bad Request" {
		t.Errorf("the failed attempts' errors = %q, want three 400s", got)
	}

	f.status.Store(http.StatusOK)
	do("ask to replay the failed jobs",
		chromedp.Navigate(list),
		load(chromedp.Click(chromedp.ID("replay-filter"))),
		shot("replay"),
	)
	if got := strings.TrimSpace(text("#replay-count")); got != "3" {
		t.Fatalf("the confirmation page counts %q jobs, want 3", got)
	}
	do("confirm the replay", load(chromedp.Click(chromedp.ID("replay-confirm"))))
	if got := strings.TrimSpace(text("p.notice")); got != "3 jobs were replayed: they are due now." {
		t.Errorf("the notice after the replay = %q", got)
	}

	f.idle(t) // the Sender sends the replayed jobs
	do("see them sent", load(chromedp.Reload()), shot("jobs-replayed"))
	if got := eval(states); got != "succeeded,succeeded,succeeded" {
		t.Errorf("the jobs' states after the replay = %q, want three succeeded", got)
	}

	do("open the message",
		load(chromedp.Click(chromedp.CSS(`#jobs tbody tr:first-child td:nth-child(2) a`))),
		shot("message"),
	)
	if got := strings.TrimSpace(text("#audience")); got != "4 users" {
		t.Errorf("the message's audience = %q, want 4 users", got)
	}

	do("search a user",
		chromedp.SendKeys(chromedp.CSS(`header input[name="q"]`), "bo"),
		load(chromedp.Submit(chromedp.CSS(`header form.search`))),
		shot("search"),
	)
	if got := eval(states); got != "succeeded" {
		t.Errorf("searching bo lists jobs in states %q, want one succeeded", got)
	}
	if got := text("#jobs tbody"); !strings.Contains(got, "bo") {
		t.Errorf("searching bo lists %q", got)
	}
}
