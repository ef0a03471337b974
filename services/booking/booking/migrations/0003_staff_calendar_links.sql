-- Signed calendar-feed links of staff members: each issued link is recorded, so it can be
-- revoked (the token alone would stay valid until it expires).
CREATE TABLE staff_calendar_links (
    link_id     uuid        PRIMARY KEY,
    -- No foreign key to `staff`: that projection is truncated and rebuilt from events.
    staff_id    uuid        NOT NULL,
    issued_by   text        NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX staff_calendar_links_live ON staff_calendar_links (staff_id) WHERE revoked_at IS NULL;
