-- +goose Up
-- The tables of store/sqlitestore, all named webhook_*, beside the app's own.
-- Times are INTEGER nanoseconds since the Unix epoch (UTC); NULL is the zero time.
-- Users, messages, maps, events, requests and attempts are JSON documents.

CREATE TABLE webhook_users (
	id   TEXT PRIMARY KEY, -- BINARY collation: byte order, as Users pages
	data TEXT NOT NULL
) WITHOUT ROWID;

-- Events: one per (user_id, id). Events reads a window of a user's events of some names
-- by webhook_events_name, or of all names by webhook_events_time; both keep seq, the order
-- saved, after time.
CREATE TABLE webhook_events (
	seq     INTEGER PRIMARY KEY,
	id      TEXT NOT NULL,
	user_id TEXT NOT NULL,
	name    TEXT NOT NULL,
	time    INTEGER NOT NULL,
	params  TEXT
);
CREATE UNIQUE INDEX webhook_events_id ON webhook_events (user_id, id);
CREATE INDEX webhook_events_name ON webhook_events (user_id, name, time);
CREATE INDEX webhook_events_time ON webhook_events (user_id, time);

-- Messages: one row per message with its current version, and one per version.
-- trigger_event is the Delivery.Event of the current version if it is Triggered and the
-- message is not deleted, else NULL.
CREATE TABLE webhook_messages (
	id            TEXT PRIMARY KEY,
	version       INTEGER NOT NULL,
	trigger_event TEXT,
	deleted       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX webhook_messages_trigger ON webhook_messages (trigger_event, id) WHERE trigger_event IS NOT NULL;

CREATE TABLE webhook_message_versions (
	id      TEXT NOT NULL,
	version INTEGER NOT NULL,
	data    TEXT NOT NULL,
	PRIMARY KEY (id, version)
) WITHOUT ROWID;

-- Jobs. ready_at is when a job can next be claimed: due_at while scheduled (the least
-- INTEGER if due_at is NULL), lease_expires_at while running, NULL when held or ended.
-- unless_event is Job.Unless, '' for none.
CREATE TABLE webhook_jobs (
	id               TEXT PRIMARY KEY,
	key              TEXT NOT NULL UNIQUE,
	message_id       TEXT NOT NULL,
	message_version  INTEGER NOT NULL,
	user_id          TEXT NOT NULL,
	event            TEXT,
	params           TEXT,
	state            TEXT NOT NULL,
	attempts         INTEGER NOT NULL,
	created_at       INTEGER,
	due_at           INTEGER,
	lease_owner      TEXT,
	lease_expires_at INTEGER,
	request          TEXT,
	unless_event     TEXT NOT NULL DEFAULT '',
	ready_at         INTEGER
);
CREATE INDEX webhook_jobs_ready ON webhook_jobs (ready_at, id) WHERE ready_at IS NOT NULL;
CREATE INDEX webhook_jobs_message ON webhook_jobs (message_id, state);
-- A user's pending jobs that an event cancels (Unless): (user_id, state, unless_event).
CREATE INDEX webhook_jobs_user ON webhook_jobs (user_id, state, unless_event);

-- The attempt log, newest first by (time, seq). Caps read a user's succeeded attempts
-- from a time by webhook_attempts_sent.
CREATE TABLE webhook_attempts (
	seq         INTEGER PRIMARY KEY, -- the order recorded
	job_id      TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	user_id     TEXT NOT NULL,
	number      INTEGER NOT NULL,
	time        INTEGER NOT NULL,
	outcome     TEXT NOT NULL,
	ignore_caps INTEGER NOT NULL,
	data        TEXT NOT NULL
);
CREATE INDEX webhook_attempts_time ON webhook_attempts (time);
CREATE INDEX webhook_attempts_job ON webhook_attempts (job_id, time);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, time);
CREATE INDEX webhook_attempts_user ON webhook_attempts (user_id, time);
CREATE INDEX webhook_attempts_sent ON webhook_attempts (user_id, time) WHERE outcome = 'succeeded';

-- Campaigns: every change is a compare-and-set on rev. lease_owner is '' when the
-- campaign is not leased.
CREATE TABLE webhook_campaigns (
	message_id       TEXT PRIMARY KEY,
	message_version  INTEGER NOT NULL,
	run              INTEGER NOT NULL,
	state            TEXT NOT NULL,
	started_at       INTEGER,
	occurrence       TEXT NOT NULL,
	after_user       TEXT NOT NULL, -- Campaign.After
	next_at          INTEGER,
	lease_owner      TEXT NOT NULL,
	lease_expires_at INTEGER,
	rev              INTEGER NOT NULL
) WITHOUT ROWID;
-- LeaseCampaign reads the running campaigns with a fan-out to do.
CREATE INDEX webhook_campaigns_due ON webhook_campaigns (next_at, message_id) WHERE state = 'running' AND next_at IS NOT NULL;
