-- A reminder's signed link for the client to confirm or cancel the appointment, as booking
-- minted it (`AppointmentBooked.manage_url`); sent on the reminder's `FollowUpDue`. Numbered
-- after 0007 (another change's) so the two never clash; the runner applies them in name order.
ALTER TABLE followups ADD COLUMN manage_url text;
