-- The client's appointments as booking reported them (streams appointment-<id>, rebuildable):
-- resuming after a pause, or re-engaging after a closure, plans the reminders of those still
-- booked and still ahead.
CREATE TABLE appointments (
    appointment_id  uuid        PRIMARY KEY,
    client_id       uuid        NOT NULL,
    site_id         uuid        NOT NULL,
    counselor_id    uuid        NOT NULL,
    start           timestamptz NOT NULL,
    start_offset    integer     NOT NULL,   -- seconds east of UTC, as booking wrote the start
    moved_by        uuid,                   -- the reschedule its reminders' ids name
    manage_url      text,                   -- booking's signed link, carried by its reminders
    status          text        NOT NULL CHECK (status IN ('booked', 'cancelled', 'completed', 'no_show')),
    version         integer     NOT NULL
);
-- A resume's question: the client's booked appointments (never a scan of every client's).
CREATE INDEX appointments_booked ON appointments (client_id, start) WHERE status = 'booked';
