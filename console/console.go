package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/webhook"
)

// Options configure the console. The zero value, or nil, means every default.
type Options struct {
	// ReadOnly hides every button that changes something (retry, cancel, replay, pause,
	// resume) and refuses every POST with 403 Forbidden. Defaults to false.
	ReadOnly bool
	// Logger receives a record of each change made through the console, at level Info (what
	// was done to which job, message or filter, and the request's remote address; wrap the
	// handler to add who was signed in), and the errors of pages that fail with 500 Internal
	// Server Error, at level Error (the page itself shows no detail). Defaults to
	// slog.Default().
	Logger *slog.Logger
	// PageSize is how many jobs or attempts a page of a list shows; more than 1000 is taken
	// as 1000. Defaults to 50.
	PageSize int
	// Clock tells the pages what time it is: the lag of the oldest due job and the window of
	// the host statistics are measured from it. Give it the Sender's Config.Clock. Defaults to
	// the real clock.
	Clock webhook.Clock
	// HostWindow is how far back the overview's host statistics go. Defaults to 24 hours.
	HostWindow time.Duration
	// CSRFKey signs the token that every form carries (see the package doc). Give the same
	// key, 32 random bytes or more, to every instance of the app behind one load balancer, so
	// that a form served by one instance can be posted to another. Defaults to a random key
	// made by New.
	CSRFKey []byte
}

// Limits and defaults of Options.
const (
	defaultPageSize   = 50
	maxPageSize       = 1000
	defaultHostWindow = 24 * time.Hour
	csrfKeySize       = 32 // bytes of the key New makes
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// handler is the console: the http.Handler that New returns.
type handler struct {
	s    *webhook.Sender
	opts Options
	mux  *http.ServeMux
	now  func() time.Time // Options.Clock's Now, or time.Now
	csrf csrf
	cop  *http.CrossOriginProtection
}

// New returns the console of s: an http.Handler that serves its pages at the paths below "/"
// (see the package doc for mounting it under a prefix of the app's mux). The handler is safe
// for concurrent use. New panics if s is nil, as http.Handle does with a nil handler.
func New(s *webhook.Sender, opts *Options) http.Handler {
	if s == nil {
		panic("console: New with a nil Sender")
	}
	h := &handler{s: s, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection(), now: time.Now}
	if opts != nil {
		h.opts = *opts
	}
	o := &h.opts
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PageSize <= 0 {
		o.PageSize = defaultPageSize
	}
	o.PageSize = min(o.PageSize, maxPageSize)
	if o.Clock != nil {
		h.now = o.Clock.Now
	}
	if o.HostWindow <= 0 {
		o.HostWindow = defaultHostWindow
	}
	h.csrf.key = o.CSRFKey
	if len(h.csrf.key) == 0 {
		h.csrf.key = make([]byte, csrfKeySize)
		rand.Read(h.csrf.key) // never returns an error
	}
	h.routes()
	return h
}

// routes registers the pages and actions on h.mux.
func (h *handler) routes() {
	static, _ := fs.Sub(staticFS, "static") // the directory is embedded: cannot fail
	h.mux.Handle("GET /static/", http.StripPrefix("/static", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /{$}", h.page(h.overview))
	h.mux.HandleFunc("GET /messages/{id}", h.page(h.message))
	h.mux.HandleFunc("GET /jobs", h.page(h.jobs))
	h.mux.HandleFunc("GET /jobs/{id}", h.page(h.job))
	h.mux.HandleFunc("GET /attempts", h.page(h.attempts))
	h.mux.HandleFunc("GET /search", h.page(h.search))
	h.mux.HandleFunc("GET /replay", h.page(h.replayForm))
	h.mux.HandleFunc("POST /replay", h.action(h.replay))
	h.mux.HandleFunc("POST /jobs/{id}/{action}", h.action(h.jobAction))
	h.mux.HandleFunc("POST /messages/{id}/{action}", h.action(h.campaignAction))
}

// contentSecurityPolicy lets pages load nothing but the console's stylesheet: no script, no
// frame, no form posted elsewhere.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP serves a page or an action, with the security headers every response gets.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// view is what a page's template gets.
type view struct {
	// Base is the path the console is mounted at, without a trailing slash: every link
	// starts with it.
	Base string
	// Title is the page's title.
	Title string
	// ReadOnly hides the buttons.
	ReadOnly bool
	// CSRF is the token every form posts.
	CSRF string
	// Notice says what the action that led to the page did, or is empty.
	Notice string
	// Now is the time on Options.Clock.
	Now time.Time
	// Data is the page's own.
	Data any
}

// pageFunc fills in a page: it returns the name of its template and its data, or an error.
type pageFunc func(r *http.Request, v *view) (string, error)

// page serves a page that f fills in, or the error page.
func (h *handler) page(f pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := &view{Base: base(r), ReadOnly: h.opts.ReadOnly, Now: h.now(), Notice: notice(r)}
		v.CSRF = h.csrf.token(w, r, v.Base)
		name, err := f(r, v)
		var redirect redirectError
		switch {
		case errors.As(err, &redirect):
			http.Redirect(w, r, v.Base+string(redirect), http.StatusSeeOther)
			return
		case err != nil:
			h.fail(w, r, v, err)
			return
		}
		h.render(w, r, http.StatusOK, name, v)
	}
}

// redirectError is returned by a pageFunc to send the browser to another page: a path below
// the console's base.
type redirectError string

func (e redirectError) Error() string { return "redirect to " + string(e) }

// actionFunc does what a POST asks and returns the path, below the console's base, to
// redirect to.
type actionFunc func(r *http.Request) (string, error)

// action serves a POST: it refuses it if the console is read-only or if it fails the CSRF
// checks, and else does it and redirects (303 See Other) to the page it returns.
func (h *handler) action(f actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := &view{Base: base(r), ReadOnly: h.opts.ReadOnly, Now: h.now()}
		if h.opts.ReadOnly {
			h.fail(w, r, v, forbiddenError("the console is read-only"))
			return
		}
		if err := h.cop.Check(r); err != nil {
			h.fail(w, r, v, forbiddenError("cross-origin request refused"))
			return
		}
		if !h.csrf.valid(r) {
			h.fail(w, r, v, forbiddenError("the form's token is missing or wrong: reload the page and try again"))
			return
		}
		to, err := f(r)
		if err != nil {
			h.fail(w, r, v, err)
			return
		}
		form := maps.Clone(r.PostForm)
		form.Del("csrf")
		h.opts.Logger.LogAttrs(r.Context(), slog.LevelInfo, "console action", slog.String("path", r.URL.Path),
			slog.String("form", form.Encode()), slog.String("result", to), slog.String("remote_addr", r.RemoteAddr))
		http.Redirect(w, r, v.Base+to, http.StatusSeeOther)
	}
}

// forbiddenError is an action refused with 403 Forbidden.
type forbiddenError string

func (e forbiddenError) Error() string { return string(e) }

// failure is the data of the error page.
type failure struct {
	Status  int
	Message string
}

// fail serves the error page for err: 404 for webhook.ErrNotFound, 400 for webhook.ErrInvalid
// (with the error, which names what is wrong), 409 for webhook.ErrConflict (a change made at
// the same time), 403 for a refused action, 501 for a Store that lacks a role, and 500 for the
// rest, whose detail goes to the log only.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	f := failure{Status: http.StatusInternalServerError, Message: "Something went wrong; the app's log has the details."}
	var forbidden forbiddenError
	switch {
	case errors.As(err, &forbidden):
		f = failure{Status: http.StatusForbidden, Message: string(forbidden)}
	case errors.Is(err, webhook.ErrNotFound):
		f = failure{Status: http.StatusNotFound, Message: err.Error()}
	case errors.Is(err, webhook.ErrInvalid):
		f = failure{Status: http.StatusBadRequest, Message: err.Error()}
	case errors.Is(err, webhook.ErrConflict):
		f = failure{Status: http.StatusConflict, Message: err.Error() + " (reload the page and try again)"}
	case errors.Is(err, errors.ErrUnsupported):
		f = failure{Status: http.StatusNotImplemented, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return // the client left
	default:
		h.opts.Logger.LogAttrs(r.Context(), slog.LevelError, "console: page failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	v.Title = http.StatusText(f.Status)
	v.Data = f
	h.render(w, r, f.Status, "error", v)
}

// render executes the page's template into a buffer and writes it with status.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	var b bytes.Buffer
	if err := pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		h.opts.Logger.LogAttrs(r.Context(), slog.LevelError, "console: render page",
			slog.String("page", name), slog.Any("err", err))
		http.Error(w, "console: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	b.WriteTo(w)
}

// base returns the path the console is mounted at, as the browser sees it: the request's
// path less the path the console was given (http.StripPrefix removes the prefix from the
// URL but keeps RequestURI as sent). It is "" when the console is mounted at the root.
func base(r *http.Request) string {
	sent, _, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(sent, "/") { // the absolute form, http://host/path: keep the path
		u, err := url.Parse(sent)
		if err != nil {
			return ""
		}
		sent = u.EscapedPath()
	}
	// A prefix of "//host", or of "/\host", which browsers read alike, would make the links and
	// redirects point at another site.
	if prefix, ok := strings.CutSuffix(sent, r.URL.EscapedPath()); ok && !strings.HasPrefix(prefix, "//") && !strings.HasPrefix(prefix, `/\`) {
		return prefix
	}
	return ""
}

// notices are the texts of the notices that an action's redirect names with its "done"
// query parameter: fixed texts, so that a link cannot make the console say anything else.
var notices = map[string]string{
	"retried":   "The job is due now.",
	"replayed":  "The job was replayed: it is due now.",
	"cancelled": "The job was cancelled.",
	"paused":    "The campaign was paused: its pending jobs are held.",
	"resumed":   "The campaign was resumed.",
	"stopped":   "The campaign was cancelled: its pending jobs were cancelled.",
}

// notice returns the text of the notice r's query string names, or "".
func notice(r *http.Request) string {
	done := r.URL.Query().Get("done")
	if done != "replay" {
		return notices[done]
	}
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil {
		return ""
	}
	if n == 1 {
		return "1 job was replayed: it is due now."
	}
	return fmt.Sprintf("%d jobs were replayed: they are due now.", n)
}

// pages are the pages' templates, each parsed with the layout, by the name of the page's file
// without ".html". They are embedded: a test parses them, so they cannot fail here.
var pages = mustParsePages()

// mustParsePages parses each page's template with the layout.
func mustParsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html") // the pattern is valid
	pages := make(map[string]*template.Template)
	for _, name := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if page != "layout" {
			pages[page] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, name))
		}
	}
	return pages
}
