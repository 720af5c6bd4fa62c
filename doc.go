// Package webhook gives a Go backend the webhook channel of a customer-engagement platform, as
// a library: define a webhook [Message] (a templated URL, headers and key/value data, sent as
// JSON or form-urlencoded), choose its [Audience] and its [Delivery], and a [Sender] renders,
// encodes, sends, retries and logs every attempt, on a pluggable [Store] with time read from a
// pluggable [Clock].
//
// # Getting started
//
// [NewSender] makes a Sender over a Store (store/memstore keeps everything in memory) and a
// [Config] whose zero value, or nil, means every default. Save a message with
// [Sender.SaveMessage] (or check one first with [Message.Validate]), keep users with
// [Sender.Identify] (or many at once with [Sender.UpdateUsers]), and call [Sender.Start] to
// run the workers and [Sender.Stop] to drain them. Then report app events with
// [Sender.Trigger] (or [Sender.TriggerMany]), send one message to one user with
// [Sender.Send], or start a campaign with [Sender.StartCampaign]. [Sender.Preview] shows the
// exact request a message makes, and [Sender.Attempts] reads the attempt log. The examples
// show each of these, sending to a local receiver; examples/quickstart in the repository is a
// whole program, and package webhooktest has a fake clock, a receiver,
// [github.com/hookline/webhook/webhooktest.NewSender] and
// [github.com/hookline/webhook/webhooktest.Start] for your tests. The docs directory of the
// repository has a guide per topic (templates, audiences, delivery methods, stores,
// security, embedding in an HTTP service, ...).
//
// The unit of work is a [Job]: one message to one user, in the Store's queue. Its ID is the
// webhook-id header of every attempt. A [Delivery] is not a job: it is a message's delivery
// method, which says when its jobs are enqueued.
//
// # Messages and templates
//
// A Message's URL, header values and Data values are Jinja templates, rendered with gonja in a
// private environment that cannot read files. They see the user (user, userAttribute), the
// triggering event's parameters (parameter, event), the message, its variant and now; see
// [Message] for the list. They may load snippets saved in the Store ({% include 'footer' %};
// see [Template] and [Sender.SaveTemplate]), and messages may start from saved webhook
// templates ([Template.NewMessage]). Templates copied from Leanplum or Iterable work as they
// are with Message.Dialect. Values substituted into the URL are escaped for their
// place, so a value can never add a path segment or a query parameter. A variable that is
// missing makes the job fail for good unless the template gives a fallback with
// | default(...). Basic auth comes from the URL's user info (https://user:pass@host) and is
// sent as an Authorization header, never in the URL.
//
// # Audience
//
// A Message's [Audience] is a tree of [Criterion] leaves over the user's attributes, fields,
// event history and a stable random bucket ([BucketOf]), combined with [All], [Any] and [Not];
// the zero Audience means everyone. Build one with [Attr], [UserField], [Did], [NeverDid],
// [EventStat] and [InBucket], or read it from JSON. It is checked when a job is enqueued
// and again before its first attempt (see Message.CheckAudienceOnce); [Sender.AudienceSize]
// counts the users it matches. A Store with the [AudienceStore] role evaluates an audience
// in its own query language, for AudienceSize and campaign fan-outs, from an
// [AudienceFilter] whose Match is the Go evaluator.
//
// # Campaigns
//
// A message's [Delivery] says when it is sent. A Triggered message is sent when
// [Sender.Trigger] reports its event, after an optional Delay, unless an Unless event comes
// first, at most Once or within a Cap. Every other [DeliveryKind] (Manual, Immediate,
// Scheduled, Recurring, OptimalTime) is a [Campaign] to the whole audience, started once with
// [Sender.StartCampaign] (again with [Sender.RestartCampaign]) and controlled with
// [Sender.PauseCampaign], [Sender.ResumeCampaign] and [Sender.CancelCampaign], which control a
// Triggered message too; a fan-out is paged and checkpointed in the Store, so it survives a
// crash. Config.Caps ([Cap]) and Config.QuietHours ([QuietHours]) apply to every kind.
//
// # A/B tests, test sends and responses
//
// A message's [Variant]s and control group split its users by a stable hash, remembered by the
// Store, until [Sender.SendWinner] sends the rest the winner. [Sender.TestSend] sends a
// message now to its test users, outside the queue's rules, and returns what was sent and
// answered. Message.UpdateProfile merges a JSON response into the user's attributes
// ([ProfileUpdate]); Config.OnResponse hands responses to the app's code.
//
// # Sending
//
// [Sender.Trigger] records an app event and enqueues a job for every message Triggered
// by it; [Sender.Send] enqueues one job of any message to one user now (the
// server-to-server call). A started Sender's workers claim due jobs from the Store,
// render each once, send it with a timeout through an HTTP client that refuses private and
// reserved addresses (see [Dialer] and Config.AllowNetworks), and record an [Attempt].
//
// # Security
//
// The default HTTP client dials through a [Dialer] that refuses private and reserved addresses
// (its doc lists them), after DNS resolution and on the connected socket, and never follows
// redirects; a refused job is logged as [Blocked] (see [BlockedError]). Message
// Secrets sign every request the Standard Webhooks way; receivers check it with [Verify]
// ([Sign] computes the header, [NewSecret] makes a secret). Requests are rate-limited per
// host and guarded by a circuit breaker (Config.HostRate, Config.BreakerThreshold), templates
// are limited in size, time and memory, and URL passwords, Authorization and other sensitive
// headers and query parameters are redacted from logs and the attempt log ([Request.Redacted]).
//
// # Retries
//
// [DefaultRetryPolicy] says which failed attempts are retried and when ([Retryable] says
// which); redirects are not followed. A retry is a job row in the Store with a due time,
// never a sleeping goroutine, and it resends the bytes of the first attempt with the same
// webhook-id header, so receivers can drop duplicates.
//
// # Observability
//
// [Hooks] in the Config receive each recorded attempt, each job that ended, each campaign
// change and each breaker that opened or closed, off the path of the jobs; a [SystemWebhook]
// forwards the same as signed webhooks. Each attempt is an OpenTelemetry client span linked
// to the span that enqueued its job (Config.TracerProvider), and the Sender keeps metrics of
// attempts, latency, the queue and the breakers (Config.MeterProvider); both are no-ops until
// the app sets a provider.
//
// # Operating
//
// [Sender.Jobs] and [Sender.AttemptLog] page through the job queue and the attempt log,
// filtered, newest first, with a cursor; [Sender.JobCounts] gives each message's jobs by
// state (a campaign's progress), [Sender.Hosts] each destination host's attempts, successes
// and circuit breaker. [Sender.RetryJob], [Sender.CancelJob] and [Sender.Replay] act on jobs:
// a replay sends ended jobs again, by filter, after a dry run that counts them, keeping each
// job's ID, the webhook-id header receivers deduplicate on. They need a Store with the
// optional [Inspector] role, which the three stores here have. Package
// [github.com/hookline/webhook/console] shows them in a browser, to mount in the app's server.
//
// # Stores and clocks
//
// The Store keeps users, events, messages, campaigns, the job queue and the attempt log.
// store/memstore is the in-memory default; store/sqlitestore keeps them in SQLite for one app
// instance, and store/pgstore in PostgreSQL for many instances sharing one queue; with either,
// [Sender.InTx] records users, events and jobs in the app's own transaction. store/storetest
// checks any Store against the Store contract. No Store deletes anything by itself; the three
// here implement [AttemptPruner], so that a task of the app's own can delete old attempts.
// Everything the library reads or waits for comes from the Config's Clock, so tests can use
// webhooktest.FakeClock and run hours of retries in milliseconds.
//
// # How one job is sent
//
// A dispatcher claims due jobs from the Store in batches and hands each to a worker. The
// worker runs the attempt through one function that decides how it ends — quiet hours, caps,
// the audience, rendering, the host and message rate limits, signing, then the HTTP exchange
// and the [RetryPolicy] — and one that records it: exactly one Store write per attempt, which
// a completer batches with the writes of other workers, so that a durable Store commits once
// for many jobs.
package webhook
