-- notify: a page keeps its alert's id, so its pending retries can be withdrawn when the alert
-- is acknowledged or resolved (status 'withdrawn').
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'withdrawn'));
ALTER TABLE notifications ADD COLUMN alert_id uuid;
UPDATE notifications SET alert_id = (params ->> 'alert_id')::uuid
    WHERE page_id IS NOT NULL AND params ? 'alert_id';
CREATE INDEX notifications_pending_by_alert ON notifications (alert_id)
    WHERE status = 'pending' AND alert_id IS NOT NULL;
