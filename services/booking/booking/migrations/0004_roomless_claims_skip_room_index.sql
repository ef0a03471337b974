-- A claim without a room (online and phone appointments, holds for them) can never conflict on
-- its room: an exclusion constraint treats a NULL key as distinct from every other. Its entry in
-- the room constraints' GiST indexes was written for nothing on every such booking (the costliest
-- part of an index insert: GiST picks a page by penalty). The same constraints, same names,
-- now index only the claims that have a room; what they refuse is unchanged.
ALTER TABLE appointments
    DROP CONSTRAINT appointments_room_free,
    ADD CONSTRAINT appointments_room_free EXCLUDE USING gist (
        room_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (status = 'booked' AND room_id IS NOT NULL);

ALTER TABLE slot_claims
    DROP CONSTRAINT slot_claims_room_free,
    ADD CONSTRAINT slot_claims_room_free EXCLUDE USING gist (
        room_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (room_id IS NOT NULL);
