"""Prometheus metrics of notify's deliveries (served on /metrics with the backbone's)."""

from prometheus_client import Counter, Histogram

DELIVERY_ATTEMPTS = Counter(
    "notify_delivery_attempts_total",
    "Attempts to hand a message to a provider, by lane, channel and outcome",
    ["lane", "channel", "outcome"],
)
DELIVERY_DEFERRALS = Counter(
    "notify_delivery_deferrals_total",
    "Messages put back without an attempt because notify's own side could not answer"
    " (outcome deferred), or given up when that lasted past their deadline (given_up),"
    " by lane and reason (directory_unavailable, recipient_unknown)",
    ["lane", "reason", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "notify_delivery_latency_seconds",
    "From the event asking for a message to the provider accepting it, by lane",
    ["lane"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600),
)
PROVIDER_FAILOVERS = Counter(
    "notify_provider_failovers_total",
    "Messages handed to a channel's fallback provider after its first provider failed in a way"
    " worth retrying, by channel and whether the fallback took it",
    ["channel", "outcome"],
)
