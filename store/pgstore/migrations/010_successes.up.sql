-- +goose Up
-- The successes of a finish in one row (#13). A row of webhook_attempts and its seven index
-- entries cost the server 17–30 µs of CPU per delivery in a burst (docs/performance.md),
-- most of what a delivery costs it beyond the job's own row. When every attempt that a
-- Finish statement records succeeded with a 2xx status, and they started within 5 minutes
-- of each other, they are now one row of webhook_successes, their columns as arrays in the
-- order of their seqs, which come from webhook_attempts' sequence, so that every attempt of
-- the log still has a Seq of its own, in the order attempts were recorded. The other
-- attempts, and those recorded before this migration, stay in webhook_attempts.
-- Readers of the log read both: a row of webhook_successes is found by its time range, and
-- by the users, messages and jobs it holds (GIN indexes), before its arrays are unnested.
CREATE TABLE webhook_successes (
    -- The first of seqs.
    seq              bigint PRIMARY KEY,
    first_time       timestamptz NOT NULL,
    last_time        timestamptz NOT NULL,
    seqs             bigint[] NOT NULL,
    job_ids          text[] NOT NULL,
    message_ids      text[] NOT NULL,
    message_versions integer[] NOT NULL,
    user_ids         text[] NOT NULL,
    numbers          integer[] NOT NULL,
    times            timestamptz[] NOT NULL,
    durations        bigint[] NOT NULL,
    methods          text[] NOT NULL,
    urls             text[] NOT NULL,
    request_headers  bytea[] NOT NULL,
    request_bodies   bytea[] NOT NULL,
    status_codes     integer[] NOT NULL,
    response_headers bytea[] NOT NULL,
    response_bodies  bytea[] NOT NULL,
    errors           text[] NOT NULL,
    ignore_caps      boolean[] NOT NULL,
    variants         text[] NOT NULL,
    tests            boolean[] NOT NULL,
    hosts            text[] NOT NULL,
    replays          boolean[] NOT NULL
);
CREATE INDEX webhook_successes_time ON webhook_successes (last_time, seq);
CREATE INDEX webhook_successes_users ON webhook_successes USING gin (user_ids);
CREATE INDEX webhook_successes_messages ON webhook_successes USING gin (message_ids);
CREATE INDEX webhook_successes_jobs ON webhook_successes USING gin (job_ids);
