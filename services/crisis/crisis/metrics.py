"""Prometheus metrics of the crisis service (served on `/metrics` with the backbone's own)."""

from prometheus_client import Counter, Gauge, Histogram

PAGE_LATENCY = Histogram(
    "crisis_page_latency_seconds",
    "From the moment a page was requested to its first delivery (NotificationSent). For"
    " trigger=flag the page was requested in the transaction that received the risk flag, so"
    " this is flag received to page sent; trigger=escalation follows a missed deadline.",
    ["trigger"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
OPEN_ALERTS = Gauge("crisis_open_alerts", "Alerts not yet resolved, by status", ["status"])
OVERDUE_STEPS = Gauge(
    "crisis_overdue_escalation_steps",
    "Escalation deadlines past due by more than a few seconds and not yet fired",
)
PAGES_UNSENT = Gauge(
    "crisis_pages_unsent",
    "Pages of open alerts requested more than CRISIS_PAGE_UNSENT_AFTER_SECONDS (30) ago with"
    " neither a delivery (NotificationSent) nor a failure (NotificationFailed)",
)
OPEN_EXHAUSTED_ALERTS = Gauge(
    "crisis_open_exhausted_alerts",
    "Open (unacknowledged) alerts whose escalation chain is exhausted: every level of every"
    " pass was paged without an acknowledgement, the fallback staff (if any) were paged once,"
    " and nothing more is scheduled (refreshed from the database)",
)
ALERTS_WITHOUT_POLICY = Counter(
    "crisis_alerts_without_policy_total",
    "Alerts opened at a site that has no escalation policy (nobody could be paged)",
)
ALERTS_WITHOUT_NEXT_STEP = Counter(
    "crisis_alerts_without_next_step_total",
    "Open alerts the escalation auditor found with no next step and repaired, by reason:"
    " deadline_missing (no scheduled deadline; re-created from the alert's state) or"
    " policy_not_paged (the site has a policy but the alert was never paged; level 1 paged)",
    ["reason"],
)
PAGES_REQUESTED = Counter(
    "crisis_pages_requested_total", "PageRequested events emitted", ["trigger"]
)
ESCALATION_STEPS = Counter(
    "crisis_escalation_steps_total",
    "Escalation steps: escalated, chain_repeated, exhausted, level_skipped (nobody on call),"
    " escalated_by_staff (a paged staff member escalated now: an escalated, chain_repeated or"
    " exhausted step follows) or reopened (an acknowledged alert opened again: its risk rose,"
    " or the acknowledgement expired; its acknowledger is paged again)",
    ["kind"],
)
ONCALL_EMPTY_HOURS = Gauge(
    "crisis_oncall_empty_hours",
    "Hours of the next 7 days in which the site's first escalation level would resolve to nobody"
    " (from the daily look-ahead check)",
    ["site_id"],
)
ONCALL_SINGLE_CHANNEL = Gauge(
    "crisis_oncall_single_channel_staff",
    "Staff on call at the site in the next 7 days (or named in its policy) reachable on fewer"
    " than two channels (phone and email)",
    ["site_id"],
)
ONCALL_CHECKED_AT = Gauge(
    "crisis_oncall_check_timestamp_seconds", "When the on-call look-ahead check last succeeded"
)
UNVERIFIED_FLAGS = Counter(
    "crisis_flags_client_unverified_total",
    "Risk flags accepted for a client crisis had not heard of while booking's directory could"
    " not answer (paging never waits for booking); check such alerts' client ids",
)
STAFF_PHONE_DIGESTS = Gauge(
    "crisis_staff_phone_digests",
    "Active staff whose phone digest (to recognise SMS replies) was made with the current"
    " LINK_SIGNING_KEY, with one of LINK_SIGNING_PREVIOUS_KEYS, or with a key not on record"
    " (made before crisis recorded keys, or with a key no longer listed: such a phone's"
    " replies no longer match). A previous key may be dropped once previous and unknown are 0",
    ["key"],
)
OLDEST_ACKNOWLEDGEMENT = Gauge(
    "crisis_oldest_acknowledged_alert_age_seconds",
    "How long the longest-held acknowledged, unresolved alert has been acknowledged (0 when"
    " none is): an alert someone took and never resolved",
)
PAGE_CALLS = Counter(
    "crisis_page_calls_total",
    "Pages' phone calls ended, by outcome (Twilio's status callback): answered, voicemail (an"
    " answering machine: not an acknowledgement), no_answer, busy, failed, canceled",
    ["outcome"],
)
CALL_KEYS = Counter(
    "crisis_page_call_keys_total",
    "What happened at a page call's key prompt: acknowledged (key 1), escalated (key 3),"
    " moved_on (key 3, the alert had left the page's level), repeat (any other key), none"
    " (no key pressed), machine (an answering machine), already, unknown",
    ["result"],
)
