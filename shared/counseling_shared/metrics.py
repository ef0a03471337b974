"""Prometheus metrics every service exposes on `/metrics`."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter(
    "messages_consumed_total", "Messages handled and committed, by consumer", ["consumer"]
)
MESSAGES_DUPLICATE = Counter(
    "messages_duplicate_total", "Redelivered messages skipped by the inbox", ["consumer"]
)
MESSAGES_FAILED = Counter(
    "messages_failed_total", "Handler failures (each is retried or dead-lettered)", ["consumer"]
)
DEAD_LETTERS = Counter("dead_letters_total", "Messages dead-lettered", ["consumer", "reason"])
HANDLER_SECONDS = Histogram(
    "handler_duration_seconds",
    "Time to handle one message, inside its transaction",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows acked by JetStream")
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published")
OUTBOX_LAG_SECONDS = Gauge(
    "outbox_relay_lag_seconds",
    "Age, when scraped, of the oldest unpublished outbox row the relay last saw (0: none)",
)
OUTBOX_RELAY_HEARTBEAT = Gauge(
    "outbox_relay_heartbeat_timestamp_seconds",
    "Unix time the relay last left nothing behind (a drain that settled every row it took, or"
    " a look that found nothing waiting); the scrape time while it is idle with nothing left",
)
OUTBOX_STREAM_MISSING = Gauge(
    "outbox_relay_stream_missing",
    "1 while the relay holds rows back because their stream does not exist",
    ["stream"],
)
INFRASTRUCTURE_FAILURES = Counter(
    "consumer_infrastructure_failures_total",
    "Batches that failed outside their handlers (database or NATS unreachable); never counted"
    " as deliveries",
    ["consumer"],
)
CONSUMER_WAITING = Gauge(
    "consumer_waiting",
    "1 while a consumer has stopped fetching and waits for its database to answer",
    ["consumer"],
)
OUTBOX_DEAD_LETTERS = Counter(
    "outbox_dead_letters_total",
    "Outbox rows that can never be published, moved to outbox_dead_letters",
    ["reason"],
)
PRUNED_ROWS = Counter("pruned_rows_total", "Old rows deleted by the pruner", ["table"])
AUDIT_STATUS_MISMATCHES = Counter(
    "audit_status_mismatches_total",
    "Changes whose audit entry, committed with the change, records another status than the"
    " one answered (an answer that failed after its commit, or a route answering other than"
    " its declared status without saying so); the service logs audit_status_differs",
    ["action"],
)
TWILIO_REPLAYS = Counter(
    "twilio_replays_total",
    "Twilio-signed posts, and shared-secret texts with a provider message id, not acted on"
    " because the same post (its id) was acted on already, or is being handled at that"
    " moment, by service and route",
    ["service", "route"],
)
INBOUND_SMS_NUMBER_LIMITED = Counter(
    "inbound_sms_number_limited_total",
    "Texts received past their number's INBOUND_SMS_PER_NUMBER_LIMIT: not acted on, not"
    " answered (a STOP is still recorded by notify), by service",
    ["service"],
)
