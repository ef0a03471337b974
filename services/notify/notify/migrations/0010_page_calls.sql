-- A page may also be a phone call (PAGE_CALLS): a third crisis-lane row, channel `voice`.
ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check
    CHECK (channel IN ('email', 'sms', 'messaging', 'voice'));
