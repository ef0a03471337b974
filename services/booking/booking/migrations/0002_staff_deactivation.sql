-- A staff member who left stays on record (their past sessions name them) but is marked
-- deactivated: they can no longer be booked, and crisis and notify stop paging them.
ALTER TABLE staff ADD COLUMN deactivated_at timestamptz;
