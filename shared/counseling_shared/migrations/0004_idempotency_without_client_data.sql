-- Idempotency records hold no client data: the request's hash, the status, the resource id and
-- where to read the resource (a replay reads it as it is now). Records are written in the
-- command's own transaction, so there is no "in progress" row any more. Existing rows hold whole
-- responses (names, contact details): they are dropped, not converted.
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys
    DROP COLUMN response_body,
    DROP COLUMN content_type,
    ADD COLUMN resource_id text,
    ADD COLUMN location text,
    ALTER COLUMN status_code SET NOT NULL;
-- Expired records (IDEMPOTENCY_KEY_TTL) are deleted by age.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
