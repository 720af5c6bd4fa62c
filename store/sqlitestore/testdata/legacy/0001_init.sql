-- Times are INTEGER nanoseconds since the Unix epoch (UTC); NULL is the zero time.
-- Maps, events, requests, users, messages and attempts are JSON documents.

CREATE TABLE users (
	id   TEXT PRIMARY KEY, -- BINARY collation: byte order, as Users pages
	data TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE events (
	seq     INTEGER PRIMARY KEY,
	id      TEXT NOT NULL,
	user_id TEXT NOT NULL,
	name    TEXT NOT NULL,
	time    INTEGER NOT NULL,
	params  TEXT
);
CREATE INDEX events_user_name_time ON events (user_id, name, time);

CREATE TABLE messages (
	id            TEXT NOT NULL,
	version       INTEGER NOT NULL,
	trigger_event TEXT, -- Delivery.Event of a Triggered message, else NULL
	data          TEXT NOT NULL,
	PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE INDEX messages_trigger ON messages (trigger_event, id) WHERE trigger_event IS NOT NULL;

CREATE TABLE jobs (
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
	-- ready_at is when the job can next be claimed: due_at while scheduled, lease_expires_at
	-- while running, NULL once finished or cancelled.
	ready_at         INTEGER
);
CREATE INDEX jobs_ready ON jobs (ready_at, id) WHERE ready_at IS NOT NULL;
CREATE INDEX jobs_message ON jobs (message_id);
CREATE INDEX jobs_user ON jobs (user_id);

CREATE TABLE attempts (
	seq         INTEGER PRIMARY KEY, -- the order recorded
	delivery_id TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	user_id     TEXT NOT NULL,
	time        INTEGER NOT NULL,
	data        TEXT NOT NULL
);
CREATE INDEX attempts_time ON attempts (time, seq);
CREATE INDEX attempts_delivery ON attempts (delivery_id, time, seq);
CREATE INDEX attempts_message ON attempts (message_id, time, seq);
CREATE INDEX attempts_user ON attempts (user_id, time, seq);
