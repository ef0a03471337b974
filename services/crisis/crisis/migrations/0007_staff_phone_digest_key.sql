-- Which LINK_SIGNING_KEY made each staff phone digest: a non-secret fingerprint of the key
-- (`crisis.domain.phones.key_fingerprint`), so the operator can see when no digest needs a
-- previous key any more (gauge `crisis_staff_phone_digests`). NULL for digests made before
-- this column: their key is unknown until the member's next StaffRegistered or SMS reply.
ALTER TABLE staff ADD COLUMN phone_digest_key text;
