-- Managing a webhook subscription after it is created: deleting it (kept, marked `deleted`,
-- so its deliveries and their attempts stay on record) and rotating its secret (the previous
-- one still signs, beside the new one, until `previous_secret_expires_at`).

ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_status_check;
ALTER TABLE webhook_subscriptions
    ADD CONSTRAINT webhook_subscriptions_status_check
    CHECK (status IN ('active', 'disabled', 'deleted'));
ALTER TABLE webhook_subscriptions ADD COLUMN deleted_at timestamptz;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret text;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_expires_at timestamptz;
