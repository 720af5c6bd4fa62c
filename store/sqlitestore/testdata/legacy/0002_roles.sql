-- The roles added after 0001: Job.Unless, CountSent, EventStats, campaigns and held jobs.

-- Job.Unless: the event that cancels the job while it is scheduled or held; '' for none.
-- Cancel by a user's Unless event reads jobs_user (user_id, state).
ALTER TABLE jobs ADD COLUMN unless_event TEXT NOT NULL DEFAULT '';

-- CountSent reads the succeeded attempts of a user from a time. The outcome and IgnoreCaps are
-- read from the attempt's JSON by virtual columns, so attempts logged before this migration
-- are counted too, and Finish writes nothing more.
ALTER TABLE attempts ADD COLUMN outcome TEXT GENERATED ALWAYS AS (json_extract(data, '$.outcome')) VIRTUAL;
ALTER TABLE attempts ADD COLUMN ignore_caps INTEGER GENERATED ALWAYS AS (coalesce(json_extract(data, '$.ignore_caps'), 0)) VIRTUAL;
CREATE INDEX attempts_sent ON attempts (user_id, time, message_id, ignore_caps) WHERE outcome = 'succeeded';

-- EventStats and EventsByQuarterHour read events_user_name_time (user_id, name, time) of 0001.

-- One row per campaign. Times are nanoseconds, NULL for the zero time; lease_owner is '' when
-- the campaign is not leased.
CREATE TABLE campaigns (
	message_id       TEXT PRIMARY KEY,
	message_version  INTEGER NOT NULL,
	run              INTEGER NOT NULL,
	state            TEXT NOT NULL,
	started_at       INTEGER,
	occurrence       TEXT NOT NULL,
	after_user       TEXT NOT NULL, -- Campaign.After
	next_at          INTEGER,
	lease_owner      TEXT NOT NULL,
	lease_expires_at INTEGER
) WITHOUT ROWID;
-- LeaseCampaign and NextCampaignDue read the running campaigns with a fan-out to do.
CREATE INDEX campaigns_due ON campaigns (next_at, message_id) WHERE state = 'running' AND next_at IS NOT NULL;
