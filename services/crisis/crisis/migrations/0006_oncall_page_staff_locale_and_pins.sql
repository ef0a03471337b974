-- The on-call page speaks the staff member's language (booking's StaffRegistered `locale`).
ALTER TABLE staff ADD COLUMN locale text;
-- A keyed digest (HMAC-SHA256) of the staff member's phone, to recognise their SMS replies
-- (`ACK <code>`) without keeping the number.
ALTER TABLE staff ADD COLUMN phone_digest text;
CREATE INDEX staff_by_phone_digest ON staff (phone_digest) WHERE phone_digest IS NOT NULL;

-- Per-staff PINs that unlock a client's contact details on the on-call page. Only a scrypt
-- hash is kept; wrong tries are counted and lock the PIN for a while.
CREATE TABLE staff_pins (
    staff_id         uuid        PRIMARY KEY,
    pin_hash         text        NOT NULL,
    set_at           timestamptz NOT NULL,
    failed_attempts  integer     NOT NULL DEFAULT 0,
    locked_until     timestamptz
);
