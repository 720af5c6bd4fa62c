// Package console is a web console for a [webhook.Sender], to mount in the app's own HTTP
// server: server-rendered pages over the job queue, the attempt log and campaigns, with the
// actions an operator needs when webhooks fail (retry, cancel, replay, pause, resume).
//
//	ops := console.New(sender, &console.Options{Clock: cfg.Clock})
//	mux.Handle("/ops/", requireOperator(http.StripPrefix("/ops", ops)))
//
// [New] returns an http.Handler that serves its pages at "/", "/jobs", ... Mount it under any
// prefix with http.StripPrefix, as above: its links and forms start with the prefix the
// browser asked for. The pages need no script and no build step: the templates and the
// stylesheet are embedded in the package.
//
// # Pages
//
//   - / (overview): per message, its jobs by state; per destination host, the attempts and
//     their success rate over Options.HostWindow and the state of its circuit breaker in this
//     Sender; the queue's scheduled, running and held jobs and how long the oldest due job
//     has waited.
//   - /messages/{id}: the message's latest versions (credentials redacted, signing secrets
//     only counted), its audience's size, its campaign's state with Pause, Resume and Cancel,
//     and its jobs by state.
//   - /jobs: the jobs a filter selects (message, user, states, created between two times),
//     newest first, a page at a time (Options.PageSize) with a cursor.
//   - /jobs/{id}: a job and its attempts, newest first, each with its request and response
//     (the receiver's response is shown as text, escaped), when the next attempt is due, and
//     Retry now (a scheduled job), Cancel (a scheduled or held one) or Replay (an ended one).
//   - /attempts: the attempt log, filtered by message, user, outcomes, status class (2xx to
//     5xx, or no response) and time, newest first, with each attempt's error: why jobs fail.
//   - /search?q=: the job with that ID, else the message, else the jobs of the user with
//     that ID.
//   - /replay?filter: the exact count of the ended jobs the filter selects, from a dry run,
//     and the button that replays them.
//
// A replay ([webhook.Sender.Replay], [webhook.Sender.RetryJob] on an ended job) puts a job
// back in the queue, due now, with its ID, which is the webhook-id header receivers drop
// duplicates by; its next attempts are marked as replays in the log. The pages read the
// Sender's query API, which needs a Store with the [webhook.Inspector] role (memstore,
// sqlitestore and pgstore have it); over a Store without it the pages answer 501 Not
// Implemented, naming the role.
//
// # Security
//
// The console has no login of its own: wrap it in the app's authentication and authorization
// middleware, as requireOperator above, and give operators who should only look a handler
// made with Options.ReadOnly, which hides every button and refuses every POST with 403
// Forbidden.
//
// Every change is a POST, checked twice against cross-site request forgery: by
// [http.CrossOriginProtection] (the browser's Sec-Fetch-Site or Origin header), and by a
// token in each form that must match the HMAC of a random, HttpOnly, SameSite=Strict cookie
// under a key of the console (Options.CSRFKey; give every instance the same one). Pages are
// sent with a Content-Security-Policy that allows no script, no frame and no form to another
// origin, and everything they show (user IDs, parameters, request and response bodies) is
// escaped by html/template. URL passwords, the values of headers and query parameters whose
// names say they hold credentials, and signing secrets are never shown, by the rules of
// [webhook.Request.Redacted]; bodies are shown as the attempt log keeps them.
package console
