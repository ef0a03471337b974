-- When the client confirmed a booked session from the signed link in a reminder
-- (`AppointmentConfirmed`); cleared by a reschedule.
ALTER TABLE appointments ADD COLUMN confirmed_at timestamptz;
