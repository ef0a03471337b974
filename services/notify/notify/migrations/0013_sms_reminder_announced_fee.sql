-- The late-cancellation fee announced with `cancel_asked_at` (the answer to a late X), so the
-- second X asks booking to cancel with that fee and no other: a fee changed between the two
-- X's is announced again, never charged. Both null with `cancel_asked_at` set: late, no fee.
ALTER TABLE sms_reminders
    ADD COLUMN announced_fee_amount text,
    ADD COLUMN announced_fee_currency text;
