-- +goose Up
-- CountAudience counts the users an event criterion selects by one grouped scan of the
-- events of its name, in user order, with their times, from this index alone where the
-- criterion reads no parameter.
CREATE INDEX webhook_events_name_user_time ON webhook_events (name, user_id, time);
