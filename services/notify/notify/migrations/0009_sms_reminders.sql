-- Reminders sent by SMS or messaging, so a client's C/X reply from the number can be mapped to
-- the appointment it reminded of (the most recent one whose appointment has not started).
-- The number only as a keyed digest (as sms_opt_outs; `digest_key` its key's fingerprint),
-- never the number or the text. `cancel_asked_at`: a late X answered with the fee, which a
-- second X within a few minutes confirms. Plain rows, not events; a rebuild leaves them; a
-- client's erasure deletes theirs; rows of appointments started a day ago are pruned.
CREATE TABLE sms_reminders (
    notification_id uuid PRIMARY KEY,
    phone_digest text NOT NULL,
    digest_key text NOT NULL,
    appointment_id uuid NOT NULL,
    client_id uuid NOT NULL,
    appointment_start timestamptz NOT NULL,
    locale text NOT NULL,
    timezone text NOT NULL,
    sent_at timestamptz NOT NULL,
    cancel_asked_at timestamptz
);
CREATE INDEX sms_reminders_by_number ON sms_reminders (phone_digest, sent_at DESC);
CREATE INDEX sms_reminders_by_start ON sms_reminders (appointment_start);
CREATE INDEX sms_reminders_by_client ON sms_reminders (client_id);
