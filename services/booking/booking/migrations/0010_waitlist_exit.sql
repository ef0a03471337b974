-- Leaving the waitlist: an entry `withdrawn` (by the front desk, or by the client from an
-- offer's page) keeps why (a code: `client_request`, `booked_elsewhere`, `other`) and when.
-- An offer may now also be `declined` or `withdrawn`; `status` stays free text as before.
ALTER TABLE waitlist_entries ADD COLUMN left_reason text;
ALTER TABLE waitlist_entries ADD COLUMN left_at timestamptz;

-- Entries that no longer make sense close by themselves (`closed`, with `left_reason`
-- `episode_closed`, `group_cancelled` or `client_erased`): a client's waiting entries.
CREATE INDEX waitlist_waiting_of_client ON waitlist_entries (client_id) WHERE status = 'waiting';
