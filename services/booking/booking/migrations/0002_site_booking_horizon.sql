-- How far ahead each site accepts bookings, in calendar months (default 18).
ALTER TABLE sites ADD COLUMN booking_horizon_months integer NOT NULL DEFAULT 18;
