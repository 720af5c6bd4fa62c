-- +goose Up
-- The Inspector role (#14): the job and attempt lists, counts by message and state, hosts
-- and replay. Every index here is written when a job is enqueued or an attempt logged; none
-- is written by a job's moves, whose columns (state, ready_at, ...) none of them holds.

-- Job.Replay.
ALTER TABLE webhook_jobs ADD COLUMN replay INTEGER NOT NULL DEFAULT 0;

-- The job lists, newest first: all jobs, a message's and a user's by (created_at, id). The
-- message and user indexes replace those of 0004, whose lookups they serve as well.
CREATE INDEX webhook_jobs_created ON webhook_jobs (created_at, id);
DROP INDEX webhook_jobs_message;
CREATE INDEX webhook_jobs_message ON webhook_jobs (message_id, created_at, id);
DROP INDEX webhook_jobs_user;
CREATE INDEX webhook_jobs_user ON webhook_jobs (user_id, created_at, id);
-- No index on state: SQLite writes the partial indexes whose condition names a column an
-- UPDATE sets, and one of jobs that ended badly cost a claimed and finished job 10-15% more.
-- A list by state reads the index of all jobs, or of the message's or user's, newest first,
-- and skips the other states.

-- How many jobs of each message are in each state: JobCounts reads it, and QueueStats sums it
-- over messages, so the count of held jobs of 0004 goes. The statements that save and move
-- jobs count them in the same transaction, with one more statement per call (a trigger per
-- row cost more); a trigger counts deletions, which the Store never makes.
CREATE TABLE webhook_job_counts (
	message_id TEXT NOT NULL,
	state      TEXT NOT NULL,
	n          INTEGER NOT NULL,
	PRIMARY KEY (message_id, state)
) WITHOUT ROWID;
INSERT INTO webhook_job_counts SELECT message_id, state, count(*) FROM webhook_jobs GROUP BY message_id, state;
DROP TRIGGER webhook_jobs_held_insert;
DROP TRIGGER webhook_jobs_held_update;
DROP TRIGGER webhook_jobs_held_delete;
DROP TABLE webhook_held_jobs;
CREATE TRIGGER webhook_jobs_count_delete AFTER DELETE ON webhook_jobs
BEGIN
	UPDATE webhook_job_counts SET n = n - 1 WHERE message_id = OLD.message_id AND state = OLD.state;
END;

-- An attempt's Host and StatusCode as columns (they are in its JSON too), for the hosts'
-- counts and the log filtered by status class. Attempts logged before this migration get
-- the host of their (redacted) URL: the authority after "://", without user info, with
-- the scheme's default port dropped.
ALTER TABLE webhook_attempts ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_attempts ADD COLUMN status INTEGER NOT NULL DEFAULT 0;
UPDATE webhook_attempts SET status = coalesce(json_extract(data, '$.status_code'), 0),
	host = coalesce(json_extract(data, '$.url'), '');
UPDATE webhook_attempts SET host = substr(host, instr(host, '://') + 3) WHERE instr(host, '://') > 0;
UPDATE webhook_attempts SET host = substr(host, 1, instr(host, '/') - 1) WHERE instr(host, '/') > 0;
UPDATE webhook_attempts SET host = substr(host, 1, instr(host, '?') - 1) WHERE instr(host, '?') > 0;
UPDATE webhook_attempts SET host = substr(host, 1, instr(host, '#') - 1) WHERE instr(host, '#') > 0;
UPDATE webhook_attempts SET host = substr(host, instr(host, '@') + 1) WHERE instr(host, '@') > 0;
UPDATE webhook_attempts SET host = lower(host);
UPDATE webhook_attempts SET host = substr(host, 1, length(host) - 4)
	WHERE host LIKE '%:443' AND json_extract(data, '$.url') LIKE 'https:%';
UPDATE webhook_attempts SET host = substr(host, 1, length(host) - 3)
	WHERE host LIKE '%:80' AND json_extract(data, '$.url') LIKE 'http:%';
-- The log by outcome, newest first (the rowid, seq, follows time in every index), for the
-- outcomes other than success: the common case is not written to it.
CREATE INDEX webhook_attempts_outcome ON webhook_attempts (outcome, time) WHERE outcome != 'succeeded';
-- The log by time, newest first, as before, now also holding what the hosts' counts over a
-- window read, so that they read this index alone: it replaces the index on time of 0001
-- rather than adding one that every attempt would write.
DROP INDEX webhook_attempts_time;
CREATE INDEX webhook_attempts_time ON webhook_attempts (time, seq, host, outcome);
