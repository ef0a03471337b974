-- booking's StaffDeactivated: notify sends nothing more to that person. Their contact details
-- are cleared too: notify keeps them only to page people who can be paged.
ALTER TABLE staff_contacts ADD COLUMN deactivated_at timestamptz;
ALTER TABLE staff_contacts ALTER COLUMN email DROP NOT NULL;
