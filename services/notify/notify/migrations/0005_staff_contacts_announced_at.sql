-- When booking announced the contact details kept here (the envelope `time` of the
-- StaffRegistered applied): booking announces a member again when their details change, and
-- an older announcement redelivered after a newer one (a retry, a redriven dead letter) must
-- not bring back an old phone or email. NULL: kept before this column (any announcement wins).
ALTER TABLE staff_contacts ADD COLUMN announced_at timestamptz;
