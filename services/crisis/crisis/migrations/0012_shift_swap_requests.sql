-- Shift swap requests (event-sourced: stream `shift-swap-<id>`; these rows are its
-- projection). An open row is also its own expiry timer: due at `due_at` (its `start_at`),
-- the scheduler turns it `expired`.
CREATE TABLE shift_swap_requests (
    id            uuid        PRIMARY KEY,
    schedule_id   uuid        NOT NULL REFERENCES schedules (id),
    site_id       uuid        NOT NULL,
    requester_id  uuid        NOT NULL,
    offered_to    uuid[]      NOT NULL,
    start_at      timestamptz NOT NULL,
    end_at        timestamptz NOT NULL CHECK (end_at > start_at),
    status        text        NOT NULL
                  CHECK (status IN ('open', 'taken', 'cancelled', 'expired')),
    taken_by      uuid,
    override_id   uuid,
    due_at        timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       integer     NOT NULL   -- events in the stream: the next append expects it
);
CREATE INDEX shift_swap_requests_by_schedule ON shift_swap_requests (schedule_id, created_at, id);
CREATE INDEX shift_swap_requests_open_due ON shift_swap_requests (due_at) WHERE status = 'open';
