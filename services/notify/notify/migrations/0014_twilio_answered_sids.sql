-- Twilio ids (a message's `SM…`, a call's `CA…`) of sends whose outcome is known: Twilio
-- answered with the resource, or a look-up found it for its own send. A look-up for a send
-- of unknown outcome (twilio_unknown_outcomes) lists Twilio's messages or calls to the number
-- and leaves out those ids: another notification's text or call to the same number (two
-- pages to one staff member) is never taken for the one whose answer never came. No number,
-- no text; pruned with the records of unknown outcome.
CREATE TABLE twilio_answered_sids (
    sid text PRIMARY KEY,
    answered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX twilio_answered_sids_answered_at ON twilio_answered_sids (answered_at);
