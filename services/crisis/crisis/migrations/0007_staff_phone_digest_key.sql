-- Which LINK_SIGNING_KEY made each staff phone digest: a non-secret fingerprint of the key
-- (`crisis.domain.phones.key_fingerprint`), so the operator can see when no digest needs a
-- previous key any more (gauge `crisis_staff_phone_digests`). NULL for digests made before
-- this column: their key is unknown until the member's next StaffRegistered or SMS reply.
ALTER TABLE staff ADD COLUMN phone_digest_key text;

-- When booking announced what is kept here (the envelope `time` of the StaffRegistered
-- applied): booking announces a member again when their details change, and an older
-- announcement redelivered after a newer one (a retry, a redriven dead letter) must not bring
-- back an old phone's digest. NULL: kept before this column (any announcement wins).
ALTER TABLE staff ADD COLUMN announced_at timestamptz;
