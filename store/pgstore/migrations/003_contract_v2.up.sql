-- +goose Up
-- Store contract v2 (issue #12): the queued unit is a job everywhere, events are recorded
-- once per user and ID, messages can be deleted, and campaigns change by compare-and-set.

-- Enqueue records an event once per (user_id, id). Of the events saved more than once before
-- (a Trigger retried with the same event ID), the first saved is kept.
DELETE FROM webhook_events e USING webhook_events kept
    WHERE e.user_id = kept.user_id AND e.id = kept.id AND e.seq > kept.seq;
CREATE UNIQUE INDEX webhook_events_user_id ON webhook_events (user_id, id);

-- A message head says what is current of a message: its version, whether it is deleted, and
-- the event its current version is triggered by, NULL if none or if it is deleted. Messages
-- by event reads the heads' partial index, so it costs the same however many versions the
-- messages have.
ALTER TABLE webhook_message_heads ADD COLUMN deleted boolean NOT NULL DEFAULT false,
    ADD COLUMN trigger_event text;
UPDATE webhook_message_heads h SET trigger_event = m.trigger_event
    FROM webhook_messages m WHERE m.id = h.id AND m.version = h.version;
CREATE INDEX webhook_message_heads_trigger_event ON webhook_message_heads (trigger_event)
    WHERE trigger_event IS NOT NULL;
DROP INDEX webhook_messages_trigger_event;
ALTER TABLE webhook_messages DROP COLUMN trigger_event;

-- Every Trigger cancels the user's pending jobs that the event's name is the Unless of: a
-- lookup of this index, which holds only jobs that have one.
CREATE INDEX webhook_jobs_pending_unless ON webhook_jobs (user_id, unless)
    WHERE unless <> '' AND state IN ('scheduled', 'held');

-- The attempt log names the job as every other part does. Caps read a user's succeeded
-- attempts, newest first, with the fields of a brief attempt, from the index alone.
ALTER TABLE webhook_attempts RENAME COLUMN delivery_id TO job_id;
ALTER INDEX webhook_attempts_delivery RENAME TO webhook_attempts_job;
DROP INDEX webhook_attempts_sent;
CREATE INDEX webhook_attempts_sent ON webhook_attempts (user_id, time, seq)
    INCLUDE (job_id, message_id, number, ignore_caps) WHERE outcome = 'succeeded';

-- Every change to a campaign is a compare-and-set on its revision.
ALTER TABLE webhook_campaigns ADD COLUMN rev bigint NOT NULL DEFAULT 1;
