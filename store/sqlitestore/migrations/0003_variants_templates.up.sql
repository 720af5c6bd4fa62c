-- +goose Up
-- A/B variants, saved templates and snippets, and test sends (#17).

-- Job.Variant, and an attempt's Variant and Test. Attempts keep them in their JSON too; the
-- columns are for the brief reads of caps and for the log filtered by variant.
ALTER TABLE webhook_jobs ADD COLUMN variant TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_attempts ADD COLUMN variant TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_attempts ADD COLUMN test INTEGER NOT NULL DEFAULT 0;
CREATE INDEX webhook_attempts_variant ON webhook_attempts (message_id, variant, time);

-- The variant of a message each user was assigned (VariantStore): the first one saved stays.
CREATE TABLE webhook_variants (
	message_id TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	variant    TEXT NOT NULL,
	PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;

-- Saved templates (TemplateStore): every version of each, as JSON; the current version of a
-- kind and name is the greatest.
CREATE TABLE webhook_templates (
	kind    TEXT NOT NULL,
	name    TEXT NOT NULL,
	version INTEGER NOT NULL,
	data    TEXT NOT NULL,
	PRIMARY KEY (kind, name, version)
) WITHOUT ROWID;
