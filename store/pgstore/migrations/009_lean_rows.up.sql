-- +goose Up
-- One index fewer on each table that every enqueue or trigger writes a row of (#13): the
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
