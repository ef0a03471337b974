-- Twilio sends (texts, page calls) whose outcome is unknown: the request may have reached
-- Twilio but no answer came (a timeout, a dropped connection, a 5xx, the page lane's cap, or
-- notify stopped mid-send). Twilio takes no idempotency key, so the next attempt of the same
-- key, in this process or after a restart, first lists Twilio's recent messages or calls to
-- the number and sends nothing when it finds one. `look_for` is a keyed digest of what
-- identifies it (a text's body, a call's caller); the number only as a keyed digest
-- (`digest_key` the key's fingerprint, as sms_opt_outs), never the number or the text. A row
-- goes when the outcome is known; rows never retried are pruned.
CREATE TABLE twilio_unknown_outcomes (
    idempotency_key text PRIMARY KEY,
    notification_id uuid NOT NULL,
    channel text NOT NULL CHECK (channel IN ('sms', 'voice')),
    since timestamptz NOT NULL,
    phone_digest text NOT NULL,
    look_for text NOT NULL,
    digest_key text NOT NULL
);
CREATE INDEX twilio_unknown_outcomes_by_notification
    ON twilio_unknown_outcomes (notification_id);
