-- A slot freed outside the waitlist's offer window (WAITLIST_OFFER_HOURS), waiting for the
-- window to open: `due_at` is that opening, when a durable timer offers the slot to the
-- waitlist if it is still free. Not a claim: the slot stays bookable meanwhile.
CREATE TABLE waitlist_deferred_slots (
    id            uuid        PRIMARY KEY,
    site_id       uuid        NOT NULL REFERENCES sites (id),
    counselor_id  uuid        NOT NULL REFERENCES staff (id),
    room_id       uuid        REFERENCES rooms (id),
    modality      text        NOT NULL,
    start_at      timestamptz NOT NULL,
    end_at        timestamptz NOT NULL,
    deferred_at   timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    status        text        NOT NULL,  -- waiting, released
    released_at   timestamptz,
    version       integer     NOT NULL
);
CREATE INDEX waitlist_deferred_due ON waitlist_deferred_slots (due_at) WHERE status = 'waiting';
