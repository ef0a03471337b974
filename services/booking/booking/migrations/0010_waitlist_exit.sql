-- Leaving the waitlist: an entry `withdrawn` (by the front desk, or by the client from an
-- offer's page) keeps why (a code: `client_request`, `booked_elsewhere`, `other`) and when.
-- An offer may now also be `declined` or `withdrawn`; `status` stays free text as before.
ALTER TABLE waitlist_entries ADD COLUMN left_reason text;
ALTER TABLE waitlist_entries ADD COLUMN left_at timestamptz;
