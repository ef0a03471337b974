-- A message that waited for notify's own side (booking's directory, its copy of the staff)
-- without an attempt being counted: how often (its back-off) and since when (its max age);
-- and the channel a client's message fell back from after a refusal (never tried again).
ALTER TABLE notifications
    ADD COLUMN deferrals integer NOT NULL DEFAULT 0,
    ADD COLUMN deferred_since timestamptz,
    ADD COLUMN failed_channel text CHECK (failed_channel IN ('email', 'sms', 'messaging'));
