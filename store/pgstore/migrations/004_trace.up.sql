-- +goose Up
-- The W3C trace context (traceparent, tracestate) of the span that enqueued a job or started
-- a campaign's run, as JSON: Job.Trace and Campaign.Trace.
ALTER TABLE webhook_jobs ADD COLUMN trace jsonb;
ALTER TABLE webhook_campaigns ADD COLUMN trace jsonb;
-- QueueStats counts the pending jobs by state through this index, not the ended ones.
CREATE INDEX webhook_jobs_pending ON webhook_jobs (state) WHERE state IN ('scheduled', 'running', 'held');
