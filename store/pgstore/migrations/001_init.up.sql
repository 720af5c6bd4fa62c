-- +goose Up
-- The tables of pgstore, created in the first schema of the search_path. IDs and keys sort
-- byte-wise (collation "C"), as the Store contract says.

CREATE TABLE webhook_users (
    id   text COLLATE "C" PRIMARY KEY,
    data jsonb NOT NULL
);

CREATE TABLE webhook_events (
    seq     bigserial PRIMARY KEY,
    id      text NOT NULL,
    user_id text NOT NULL,
    name    text NOT NULL,
    params  jsonb,
    time    timestamptz NOT NULL
);
CREATE INDEX webhook_events_user_name_time ON webhook_events (user_id, name, time);

-- webhook_message_heads holds the current version of each message; updating it serializes
-- concurrent saves of one message.
CREATE TABLE webhook_message_heads (
    id      text COLLATE "C" PRIMARY KEY,
    version integer NOT NULL
);

CREATE TABLE webhook_messages (
    id            text COLLATE "C" NOT NULL,
    version       integer NOT NULL,
    trigger_event text,
    data          jsonb NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE INDEX webhook_messages_trigger_event ON webhook_messages (trigger_event) WHERE trigger_event IS NOT NULL;

-- webhook_jobs is the delivery queue. ready_at is when a job can next be claimed: its due_at
-- while scheduled, its lease expiry while running, NULL once it has ended.
CREATE TABLE webhook_jobs (
    id               text COLLATE "C" PRIMARY KEY,
    key              text NOT NULL UNIQUE,
    message_id       text NOT NULL,
    message_version  integer NOT NULL,
    user_id          text NOT NULL,
    event            jsonb,
    params           jsonb,
    state            text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    lease_owner      text NOT NULL DEFAULT '',
    lease_expires_at timestamptz,
    request          jsonb,
    ready_at         timestamptz GENERATED ALWAYS AS (
        CASE state WHEN 'scheduled' THEN due_at WHEN 'running' THEN lease_expires_at END
    ) STORED
);
CREATE INDEX webhook_jobs_ready ON webhook_jobs (ready_at, id) WHERE ready_at IS NOT NULL;
CREATE INDEX webhook_jobs_message ON webhook_jobs (message_id) WHERE state = 'scheduled';
CREATE INDEX webhook_jobs_user ON webhook_jobs (user_id) WHERE state = 'scheduled';

CREATE TABLE webhook_attempts (
    seq             bigserial PRIMARY KEY,
    delivery_id     text NOT NULL,
    message_id      text NOT NULL,
    message_version integer NOT NULL,
    user_id         text NOT NULL,
    number          integer NOT NULL,
    time            timestamptz NOT NULL,
    duration        bigint NOT NULL,
    method          text NOT NULL,
    url             text NOT NULL,
    request_header  jsonb,
    request_body    bytea,
    status_code     integer NOT NULL,
    response_header jsonb,
    response_body   bytea,
    error           text NOT NULL,
    outcome         text NOT NULL,
    next_attempt_at timestamptz
);
CREATE INDEX webhook_attempts_time ON webhook_attempts (time, seq);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, time);
CREATE INDEX webhook_attempts_user ON webhook_attempts (user_id, time);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
