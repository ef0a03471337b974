-- booking's StaffDeactivated: the person is skipped when their level is paged, a policy
-- naming them is refused, and the policy read flags the gap.
ALTER TABLE staff ADD COLUMN deactivated_at timestamptz;
