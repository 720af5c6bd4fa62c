-- +goose Up
-- Indexes that every job's moves do not write. A job moves scheduled → running → an end, and
-- an index whose key holds the state is written at each move: with the message and user
-- indexes keyed by state and a partial index of the pending states, claiming and finishing
-- one job cost 40% more than with the indexes below.
--
-- The message and user indexes hold no state: the jobs a campaign change or an Unless event
-- moves are found by message or user, and their state is read from the row.
DROP INDEX webhook_jobs_message;
CREATE INDEX webhook_jobs_message ON webhook_jobs (message_id);
DROP INDEX webhook_jobs_user;
CREATE INDEX webhook_jobs_user ON webhook_jobs (user_id);
-- QueueStats counts scheduled and running jobs from the index of ready jobs, which every move
-- writes anyway, and reads the number of held jobs that triggers keep in webhook_held_jobs.
-- (A partial index of held jobs, WHERE state = 'held', cost as much as the indexes dropped
-- here; the triggers do nothing for a move that neither enters nor leaves held.)
DROP INDEX webhook_jobs_pending;
DROP INDEX webhook_jobs_ready;
CREATE INDEX webhook_jobs_ready ON webhook_jobs (ready_at, id, state) WHERE ready_at IS NOT NULL;
CREATE TABLE webhook_held_jobs (n INTEGER NOT NULL);
INSERT INTO webhook_held_jobs SELECT count(*) FROM webhook_jobs WHERE state = 'held';
CREATE TRIGGER webhook_jobs_held_insert AFTER INSERT ON webhook_jobs WHEN NEW.state = 'held'
BEGIN UPDATE webhook_held_jobs SET n = n + 1; END;
CREATE TRIGGER webhook_jobs_held_update AFTER UPDATE OF state ON webhook_jobs
	WHEN (OLD.state = 'held') != (NEW.state = 'held')
BEGIN UPDATE webhook_held_jobs SET n = n + iif(NEW.state = 'held', 1, -1); END;
CREATE TRIGGER webhook_jobs_held_delete AFTER DELETE ON webhook_jobs WHEN OLD.state = 'held'
BEGIN UPDATE webhook_held_jobs SET n = n - 1; END;
-- Most attempts are of messages without variants: only the others are indexed by variant.
DROP INDEX webhook_attempts_variant;
CREATE INDEX webhook_attempts_variant ON webhook_attempts (message_id, variant, time) WHERE variant != '';
