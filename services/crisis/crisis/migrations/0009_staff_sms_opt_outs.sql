-- Staff who texted STOP to the paging number (their phone's digest matched): SMS and
-- messaging pages stop reaching them (notify hears it from StaffSmsOptOutChanged) and the
-- escalation policy's warnings name them. START removes the row.
CREATE TABLE staff_sms_opt_outs (
    staff_id uuid PRIMARY KEY,
    site_id uuid NOT NULL,
    opted_out_at timestamptz NOT NULL
);
