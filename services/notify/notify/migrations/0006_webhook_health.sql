-- A webhook delivery's retry window opens at its first attempt, not when it was queued: a
-- delivery held behind a failing head keeps its whole window for when its turn comes.
-- NULL until the first attempt is recorded; a replay clears it (a fresh window).
ALTER TABLE webhook_deliveries ADD COLUMN first_attempt_at timestamptz;
-- Pending deliveries already tried: their first attempt since they were (re)queued.
UPDATE webhook_deliveries d SET first_attempt_at = (
    SELECT min(a.at) FROM webhook_attempts a WHERE a.delivery_id = d.id AND a.at >= d.queued_at)
WHERE d.status = 'pending' AND d.attempts > 0;
-- A subscription's first failed attempt since its last successful one (NULL: none failed): a
-- receiver failing every attempt for WEBHOOK_DISABLE_AFTER is disabled (`receiver_failing`).
ALTER TABLE webhook_subscriptions ADD COLUMN failing_since timestamptz;
