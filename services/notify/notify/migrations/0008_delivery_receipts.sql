-- The last delivery receipt a provider sent for a message it accepted (`POST
-- /inbound/sms/status`): its coded status and error code, when, and which provider (`primary`,
-- `fallback`). Projected from `DeliveryReceiptRecorded` events: a rebuild restores them.
ALTER TABLE notifications
    ADD COLUMN receipt_status text CHECK (receipt_status IN ('delivered', 'failed', 'undelivered')),
    ADD COLUMN receipt_error_code text,
    ADD COLUMN receipt_at timestamptz,
    ADD COLUMN receipt_provider text CHECK (receipt_provider IN ('primary', 'fallback'));
-- How often a page's failed receipt sent it again: its provider idempotency key is then
-- `<id>:<n>` (the plain id would be dropped by the provider as a repeat).
ALTER TABLE notifications ADD COLUMN resends integer NOT NULL DEFAULT 0;
