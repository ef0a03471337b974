-- booking's StaffDeactivated, recorded as followup's own StaffDeactivationRecorded (streams
-- staff-<id>, rebuildable): a deactivated member's staff key is refused on every route.
CREATE TABLE deactivated_staff (
    staff_id        uuid        PRIMARY KEY,
    site_id         uuid        NOT NULL,
    deactivated_at  timestamptz NOT NULL,
    version         integer     NOT NULL
);
