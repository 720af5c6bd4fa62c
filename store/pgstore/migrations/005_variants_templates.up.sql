-- +goose Up
-- A/B variants, saved templates and snippets, and test sends (issue #17).

-- Job.Variant, and an attempt's Variant and Test. Caps read a user's succeeded attempts with
-- the fields of a brief attempt, Variant and Test among them, from the index alone; the log
-- of a message's variant is read by webhook_attempts_variant.
ALTER TABLE webhook_jobs ADD COLUMN variant text NOT NULL DEFAULT '';
ALTER TABLE webhook_attempts ADD COLUMN variant text NOT NULL DEFAULT '',
    ADD COLUMN test boolean NOT NULL DEFAULT false;
DROP INDEX webhook_attempts_sent;
CREATE INDEX webhook_attempts_sent ON webhook_attempts (user_id, time, seq)
    INCLUDE (job_id, message_id, number, ignore_caps, variant, test) WHERE outcome = 'succeeded';
CREATE INDEX webhook_attempts_variant ON webhook_attempts (message_id, variant, time, seq);

-- The variant of a message each user was assigned (VariantStore): the first one saved stays.
CREATE TABLE webhook_variants (
    message_id text NOT NULL,
    user_id    text NOT NULL,
    variant    text NOT NULL,
    PRIMARY KEY (message_id, user_id)
);

-- Saved templates (TemplateStore): a head per kind and name says its current version, and
-- saves of one template take turns on it, as messages' do; every version is kept.
CREATE TABLE webhook_template_heads (
    kind    text NOT NULL,
    name    text NOT NULL,
    version integer NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE webhook_templates (
    kind    text NOT NULL,
    name    text NOT NULL,
    version integer NOT NULL,
    data    jsonb NOT NULL,
    PRIMARY KEY (kind, name, version)
);
