-- +goose Up
-- The attempt log keeps each attempt's request and response headers as the JSON bytes the
-- Sender wrote, not as jsonb (#13). No statement reads inside them, and parsing them into
-- jsonb cost the server about a tenth of its CPU per delivery in a burst: a finish writes
-- two of them for every attempt. This rewrites webhook_attempts, in time proportional to its
-- size, holding it locked meanwhile.
ALTER TABLE webhook_attempts
    ALTER COLUMN request_header TYPE bytea USING convert_to(request_header::text, 'UTF8'),
    ALTER COLUMN response_header TYPE bytea USING convert_to(response_header::text, 'UTF8');
