-- Two more kinds of audit actor: `service`, another service over the bus (booking records each
-- answer of its client directory, `booking.directory.contact`, with the asking service), and
-- `operator`, a person at `counselctl` (a client's erasure is recorded in every service).
ALTER TABLE audit DROP CONSTRAINT audit_actor_kind_check;
ALTER TABLE audit ADD CONSTRAINT audit_actor_kind_check
    CHECK (actor_kind IN ('key', 'staff', 'link', 'service', 'operator'));
