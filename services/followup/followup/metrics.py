"""Prometheus metrics of the followup service (served on `/metrics` with the backbone's own)."""

from prometheus_client import Counter, Gauge, Histogram

from counseling_shared.codes import FollowUpKind

SCHEDULED = Gauge("followup_scheduled", "Follow-ups planned and not yet due (status scheduled)")
DUE_OPEN = Gauge(
    "followup_due_open", "Follow-ups that fell due and wait for staff to complete them"
)
OVERDUE = Gauge(
    "followup_overdue",
    "Scheduled follow-ups more than 5 s past their due_at: the scheduler is behind",
)
DUE_EMITTED = Counter(
    "followup_due_emitted_total", "FollowUpDue events emitted by the scheduler", ["kind"]
)
DUE_DELAY = Histogram(
    "followup_due_delay_seconds",
    "From a follow-up's due_at to the scheduler emitting its FollowUpDue (on time: under 1 s)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400),
)

CLIENTS_PAST_GAP = Gauge(
    "followup_clients_past_contact_gap",
    "Clients in care with no positive contact for the site's max_contact_gap",
    ["site_id"],
)
CLIENTS_IN_COOLOFF = Gauge(
    "followup_clients_in_cooloff",
    "Clients in a cool-off after a negative contact (outreach held)",
    ["site_id"],
)
CONTACT_GAPS_DETECTED = Counter(
    "followup_contact_gaps_detected_total", "Contact-gap timers that fired (ContactGapDetected)"
)
REGULARITY_OUTREACH_PLANNED = Counter(
    "followup_regularity_outreach_planned_total", "regularity follow-ups planned by a gap"
)

# Every kind shows from the start (at 0), so rates and alerts see a series before the first due.
for _kind in FollowUpKind:
    DUE_EMITTED.labels(_kind.value)
