-- On-call schedules (event-sourced: stream `schedule-<id>`; these rows are its projection) and
-- the sites' time zones crisis learns from booking's SiteRegistered.

CREATE TABLE sites (
    site_id        uuid        PRIMARY KEY,
    timezone       text        NOT NULL,
    registered_at  timestamptz NOT NULL
);

CREATE TABLE schedules (
    id          uuid        PRIMARY KEY,
    site_id     uuid        NOT NULL,
    name        text        NOT NULL,
    timezone    text        NOT NULL,
    layers      jsonb       NOT NULL,   -- as the API shows them (rotation, participants, ...)
    version     integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX schedules_by_site ON schedules (site_id);

CREATE TABLE schedule_overrides (
    id           uuid        PRIMARY KEY,
    schedule_id  uuid        NOT NULL REFERENCES schedules (id),
    seq          integer     NOT NULL,   -- order of entry: later overrides apply after earlier
    staff_id     uuid        NOT NULL,
    replaces     uuid,
    start_at     timestamptz NOT NULL,
    end_at       timestamptz NOT NULL CHECK (end_at > start_at)
);
CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides (schedule_id, end_at);

-- How many ways a staff member can be reached (email, phone), from StaffRegistered: the count
-- only, never the details. NULL: registered before crisis kept it.
ALTER TABLE staff ADD COLUMN channels integer;
