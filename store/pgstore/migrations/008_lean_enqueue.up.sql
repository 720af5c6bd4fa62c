-- +goose Up
-- A leaner enqueue (#13): the dedupe keys in a table of their own, one index fewer on the
-- events and on the job list, and the job list and counts written by the enqueue itself.
--
-- The dedupe key of each job (Job.Key) in a table of its own. A job's row is updated
-- at every move, and PostgreSQL writes every index of webhook_jobs at each update, so a
-- unique index on the key there cost an entry of the key at every claim and finish as well
-- as at the enqueue. webhook_job_keys is written once per job, when it is enqueued; the
-- Store inserts a job only if the insert of its key went through. Keys compare byte-wise,
-- as the Store contract says, whatever the database's collation.
CREATE TABLE webhook_job_keys (
    key    text COLLATE "C" PRIMARY KEY,
    job_id text COLLATE "C" NOT NULL
);
INSERT INTO webhook_job_keys (key, job_id) SELECT key, id FROM webhook_jobs;
ALTER TABLE webhook_jobs DROP CONSTRAINT webhook_jobs_key_key;

-- One index fewer on each table that every enqueue or trigger writes a row of: the
-- primary key of each becomes the index that its reads and its uniqueness used already.

-- An event is found by its user and ID (which Enqueue keeps unique) and by its user or
-- name and time; seq orders the events of one time and no read looks it up, so it needs no
-- index of its own.
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey;
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_pkey PRIMARY KEY USING INDEX webhook_events_user_id;

-- The job list is read newest first by (created_at, id), and a job deleted by hand leaves it
-- by the same key.
ALTER TABLE webhook_job_list DROP CONSTRAINT webhook_job_list_pkey;
DROP INDEX webhook_job_list_created;
ALTER TABLE webhook_job_list ADD PRIMARY KEY (created_at, id);

-- A job deleted by hand frees its key, as it did when the key was a constraint of the job,
-- and leaves the list by the list's key.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION webhook_jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_job_list l USING old_jobs o WHERE l.created_at = o.created_at AND l.id = o.id;
    DELETE FROM webhook_job_keys k USING old_jobs o WHERE k.key = o.key AND k.job_id = o.id;
    INSERT INTO webhook_job_counts (message_id, state, n)
        SELECT message_id, state, -count(*) FROM old_jobs GROUP BY message_id, state ORDER BY message_id, state
        ON CONFLICT (message_id, state) DO UPDATE SET n = webhook_job_counts.n + excluded.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- Enqueue lists and counts the jobs it inserts in its own statement, rather than by a
-- statement-level trigger, whose PL/pgSQL call and transition table of the new rows cost
-- about a quarter of a small enqueue's server time. Jobs deleted by hand are still taken off
-- the list and the counts by webhook_jobs_deleted.
DROP TRIGGER webhook_jobs_inserted ON webhook_jobs;
DROP FUNCTION webhook_jobs_inserted();
