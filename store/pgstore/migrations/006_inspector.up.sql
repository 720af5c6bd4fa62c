-- +goose Up
-- The Inspector role (#14): the job and attempt lists, counts by message and state, hosts
-- and replay.
--
-- A job's row is updated at every move (claimed, finished), and PostgreSQL writes every index
-- of webhook_jobs at each update (its state is indexed, so no update is HOT). So the lists of
-- jobs newest first read a table of their own, webhook_job_list, which holds the columns that
-- never change and is written once per job, when it is enqueued; only the lists of jobs that
-- ended badly, which a job that succeeds never enters, are partial indexes of webhook_jobs.

-- Job.Replay.
ALTER TABLE webhook_jobs ADD COLUMN replay boolean NOT NULL DEFAULT false;

CREATE TABLE webhook_job_list (
    id         text COLLATE "C" PRIMARY KEY,
    created_at timestamptz NOT NULL,
    message_id text NOT NULL,
    user_id    text NOT NULL
);
INSERT INTO webhook_job_list SELECT id, created_at, message_id, user_id FROM webhook_jobs;
CREATE INDEX webhook_job_list_created ON webhook_job_list (created_at, id);
CREATE INDEX webhook_job_list_message ON webhook_job_list (message_id, created_at, id);
CREATE INDEX webhook_job_list_user ON webhook_job_list (user_id, created_at, id);
CREATE INDEX webhook_jobs_ended ON webhook_jobs (state, created_at, id)
    WHERE state IN ('failed', 'skipped', 'cancelled');
CREATE INDEX webhook_jobs_message_ended ON webhook_jobs (message_id, state, created_at, id)
    WHERE state IN ('failed', 'skipped', 'cancelled');

-- How many jobs of each message are in each state: JobCounts reads it, and QueueStats sums
-- it over messages, so the index of pending states goes. Claim and Finish, which move jobs
-- into and out of 'running' by the batch, count their moves in their own statements; the
-- triggers count every other move: an enqueue once per statement, a move of UpdateJobs or a
-- replay once per job.
CREATE TABLE webhook_job_counts (
    message_id text COLLATE "C" NOT NULL,
    state      text NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (message_id, state)
);
INSERT INTO webhook_job_counts SELECT message_id, state, count(*) FROM webhook_jobs GROUP BY message_id, state;
DROP INDEX webhook_jobs_pending;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION webhook_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_job_list SELECT id, created_at, message_id, user_id FROM new_jobs;
    INSERT INTO webhook_job_counts (message_id, state, n)
        SELECT message_id, state, count(*) FROM new_jobs GROUP BY message_id, state ORDER BY message_id, state
        ON CONFLICT (message_id, state) DO UPDATE SET n = webhook_job_counts.n + excluded.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER webhook_jobs_inserted AFTER INSERT ON webhook_jobs
    REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION webhook_jobs_inserted();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION webhook_jobs_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_job_counts (message_id, state, n)
        VALUES (OLD.message_id, OLD.state, -1), (NEW.message_id, NEW.state, 1)
        ON CONFLICT (message_id, state) DO UPDATE SET n = webhook_job_counts.n + excluded.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER webhook_jobs_moved AFTER UPDATE OF state ON webhook_jobs FOR EACH ROW
    WHEN (OLD.state <> NEW.state AND OLD.state <> 'running' AND NEW.state <> 'running')
    EXECUTE FUNCTION webhook_jobs_moved();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION webhook_jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_job_list l USING old_jobs o WHERE l.id = o.id;
    INSERT INTO webhook_job_counts (message_id, state, n)
        SELECT message_id, state, -count(*) FROM old_jobs GROUP BY message_id, state ORDER BY message_id, state
        ON CONFLICT (message_id, state) DO UPDATE SET n = webhook_job_counts.n + excluded.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER webhook_jobs_deleted AFTER DELETE ON webhook_jobs
    REFERENCING OLD TABLE AS old_jobs FOR EACH STATEMENT EXECUTE FUNCTION webhook_jobs_deleted();

-- An attempt's Host and Replay. Attempts logged before this migration get the host of their
-- (redacted) URL: the authority, without user info, lower-case, the scheme's default port
-- dropped.
ALTER TABLE webhook_attempts ADD COLUMN host text NOT NULL DEFAULT '',
    ADD COLUMN replay boolean NOT NULL DEFAULT false;
UPDATE webhook_attempts SET host = regexp_replace(
        lower(coalesce(substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#]*)'), '')),
        CASE WHEN url ILIKE 'https:%' THEN ':443$' WHEN url ILIKE 'http:%' THEN ':80$' ELSE '^$' END, '')
    WHERE url <> '';
-- The log by outcome, newest first, for the outcomes other than success: the common case is
-- not written to it.
CREATE INDEX webhook_attempts_outcome ON webhook_attempts (outcome, time, seq) WHERE outcome <> 'succeeded';
-- The log by time, as before, now including what the hosts' counts over a window read, so
-- that they read this index alone: it replaces the index on time rather than adding one that
-- every attempt would write.
CREATE INDEX webhook_attempts_time_hosts ON webhook_attempts (time, seq) INCLUDE (host, outcome);
DROP INDEX webhook_attempts_time;
ALTER INDEX webhook_attempts_time_hosts RENAME TO webhook_attempts_time;
