-- A site's lowest check-in score band that emails the client's counselor (policy
-- `notify_counselor_from_band`; NULL: never). Policies set before it keep what every site had:
-- `moderate` and up.
ALTER TABLE followup_policies ADD COLUMN notify_counselor_from_band text DEFAULT 'moderate';
