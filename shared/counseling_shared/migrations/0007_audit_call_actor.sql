-- One more kind of audit actor: `call`, a key pressed during a page's phone call (crisis's
-- `POST /inbound/voice/twilio/gather`), named by Twilio's call id and acting for the staff
-- member called.
ALTER TABLE audit DROP CONSTRAINT audit_actor_kind_check;
ALTER TABLE audit ADD CONSTRAINT audit_actor_kind_check
    CHECK (actor_kind IN ('key', 'staff', 'link', 'service', 'operator', 'call'));
