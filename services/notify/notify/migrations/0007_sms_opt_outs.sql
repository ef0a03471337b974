-- Phone numbers that texted STOP (or the like) to notify's inbound SMS webhook: no SMS or
-- messaging goes to them until they text START. Keyed by an HMAC of the normalised number
-- (LINK_SIGNING_KEY, `digest_key` its fingerprint), never the number: notify keeps no contact
-- details. Plain rows, not events (nothing else may learn a number); a rebuild leaves them.
CREATE TABLE sms_opt_outs (
    phone_digest text PRIMARY KEY,
    digest_key text NOT NULL,
    keyword text NOT NULL,
    opted_out_at timestamptz NOT NULL
);
