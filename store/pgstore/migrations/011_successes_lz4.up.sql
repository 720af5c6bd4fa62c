-- +goose Up
-- The successes' rows compressed with LZ4 where the server has it (#13). A row of
-- webhook_successes holds the attempts of a Finish statement (up to a few hundred), so most
-- are over PostgreSQL's 2 kB threshold and are compressed, with pglz unless told otherwise:
-- in a burst at 100 workers that compression was 5.5% of the server's CPU. LZ4 compresses
-- several times faster, and reads decompress faster too. It changes how new rows are
-- written only; rows written before stay as they are and read as before. A server built
-- without LZ4 support keeps pglz.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE webhook_successes
            ALTER COLUMN seqs SET COMPRESSION lz4,
            ALTER COLUMN job_ids SET COMPRESSION lz4,
            ALTER COLUMN message_ids SET COMPRESSION lz4,
            ALTER COLUMN message_versions SET COMPRESSION lz4,
            ALTER COLUMN user_ids SET COMPRESSION lz4,
            ALTER COLUMN numbers SET COMPRESSION lz4,
            ALTER COLUMN times SET COMPRESSION lz4,
            ALTER COLUMN durations SET COMPRESSION lz4,
            ALTER COLUMN methods SET COMPRESSION lz4,
            ALTER COLUMN urls SET COMPRESSION lz4,
            ALTER COLUMN request_headers SET COMPRESSION lz4,
            ALTER COLUMN request_bodies SET COMPRESSION lz4,
            ALTER COLUMN status_codes SET COMPRESSION lz4,
            ALTER COLUMN response_headers SET COMPRESSION lz4,
            ALTER COLUMN response_bodies SET COMPRESSION lz4,
            ALTER COLUMN errors SET COMPRESSION lz4,
            ALTER COLUMN ignore_caps SET COMPRESSION lz4,
            ALTER COLUMN variants SET COMPRESSION lz4,
            ALTER COLUMN tests SET COMPRESSION lz4,
            ALTER COLUMN hosts SET COMPRESSION lz4,
            ALTER COLUMN replays SET COMPRESSION lz4;
    END IF;
END $$;
-- +goose StatementEnd
