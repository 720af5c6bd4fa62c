-- +goose Up
-- The dedupe key of each job (Job.Key) in a table of its own (#13). A job's row is updated
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

-- A job deleted by hand frees its key, as it did when the key was a constraint of the job.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION webhook_jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_job_list l USING old_jobs o WHERE l.id = o.id;
    DELETE FROM webhook_job_keys k USING old_jobs o WHERE k.key = o.key AND k.job_id = o.id;
    INSERT INTO webhook_job_counts (message_id, state, n)
        SELECT message_id, state, -count(*) FROM old_jobs GROUP BY message_id, state ORDER BY message_id, state
        ON CONFLICT (message_id, state) DO UPDATE SET n = webhook_job_counts.n + excluded.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd
