-- The probe consumer's projection: one row per time its handler took effect. No unique key,
-- so a doubled effect would show as a second row.
CREATE TABLE sessions_handled (
    event_id        uuid        NOT NULL,
    appointment_id  uuid        NOT NULL,
    handled_at      timestamptz NOT NULL DEFAULT now()
);
