-- Staff members' names (booking's StaffRegistered `name`), shown on the on-call page and in the
-- on-call calendar instead of ids. Staff data, never a client's. Members registered before this
-- column get theirs from the next StaffRegistered (`counselctl staff reannounce`); until then
-- a short id stands in.
ALTER TABLE staff ADD COLUMN name text;
