-- +goose Up
-- The roles added after 001: held jobs and Unless events on the queue, CountSent on the
-- attempt log, and campaigns.

-- unless is the event that cancels a pending job (Job.Unless), or ''. Held jobs (of a paused
-- campaign) have a NULL ready_at, as the generated column of 001 says, so they are neither
-- claimed nor due for NextDue. Cancel, HoldJobs and ReleaseJobs find a message's or a user's
-- pending jobs by the two partial indexes below, which replace 001's scheduled-only ones.
ALTER TABLE webhook_jobs ADD COLUMN unless text NOT NULL DEFAULT '';
DROP INDEX webhook_jobs_message;
DROP INDEX webhook_jobs_user;
CREATE INDEX webhook_jobs_pending_message ON webhook_jobs (message_id) WHERE state IN ('scheduled', 'held');
CREATE INDEX webhook_jobs_pending_user ON webhook_jobs (user_id) WHERE state IN ('scheduled', 'held');

-- CountSent reads the succeeded attempts of a user from a time on, from the index alone.
ALTER TABLE webhook_attempts ADD COLUMN ignore_caps boolean NOT NULL DEFAULT false;
CREATE INDEX webhook_attempts_sent ON webhook_attempts (user_id, time)
    INCLUDE (message_id, ignore_caps) WHERE outcome = 'succeeded';

-- webhook_campaigns holds one row per message that was started as a campaign. A zero NextAt
-- or LeaseExpiresAt is NULL.
CREATE TABLE webhook_campaigns (
    message_id       text COLLATE "C" PRIMARY KEY,
    message_version  integer NOT NULL,
    run              integer NOT NULL,
    state            text NOT NULL,
    started_at       timestamptz NOT NULL,
    occurrence       text NOT NULL,
    after_user       text NOT NULL,
    next_at          timestamptz,
    lease_owner      text NOT NULL,
    lease_expires_at timestamptz
);
CREATE INDEX webhook_campaigns_due ON webhook_campaigns (next_at, message_id)
    WHERE state = 'running' AND next_at IS NOT NULL;
