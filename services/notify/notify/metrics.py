"""Prometheus metrics of notify's deliveries (served on /metrics with the backbone's)."""

from prometheus_client import Counter, Gauge, Histogram

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
PROVIDER_AUTH_REJECTIONS = Counter(
    "notify_provider_auth_rejections_total",
    "SMS or messaging provider answers 401 or 403 (notify's credential refused: a configuration"
    " error; the message is retried), by channel and provider (primary, fallback)",
    ["channel", "provider"],
)
OPTED_OUT_SKIPS = Counter(
    "notify_opted_out_skips_total",
    "SMS or messaging sends not made because the number texted STOP (attempt sms_opted_out),"
    " by channel",
    ["channel"],
)
SMS_OPT_OUTS = Gauge(
    "notify_sms_opt_outs",
    "Numbers that texted STOP, by the link key their digest was made with: current"
    " (LINK_SIGNING_KEY), previous (LINK_SIGNING_PREVIOUS_KEYS) or unknown (a key no longer"
    " listed: those numbers would be texted again). A digest moves to the current key when its"
    " number is next texted or texts; dropping a previous key while `previous` is above 0"
    " forgets those opt-outs",
    ["key"],
)
INBOUND_SMS = Counter(
    "notify_inbound_sms_total",
    "Texts received on POST /inbound/sms, by keyword (stop, start, help, other; confirm and"
    " cancel: a reply to a reminder; ack, escalate: a staff member's, handed to crisis;"
    " limited: past its number's INBOUND_SMS_PER_NUMBER_LIMIT, not acted on but for a STOP)",
    ["keyword"],
)
DELIVERY_RECEIPTS = Counter(
    "notify_delivery_receipts_total",
    "Delivery receipts recorded from POST /inbound/sms/status (repeats not counted), by"
    " channel (sms, messaging) and status (delivered, failed, undelivered)",
    ["channel", "status"],
)
RECEIPT_RESENDS = Counter(
    "notify_receipt_resends_total",
    "Pages whose failed delivery receipt sent them again (resent) or, their attempts spent,"
    " failed them (given_up)",
    ["outcome"],
)
RECEIPT_FALLBACKS = Counter(
    "notify_receipt_fallbacks_total",
    "Clients' texts whose delivery receipt said failed or undelivered, by the text channel"
    " (sms, messaging) and what came of the email fallback: queued (pending again by email),"
    " sent, failed (the email was refused or given up), expired (no use any more: not"
    " queued, or dropped before it went), no_address (the client has no email address),"
    " dropped (booking does not know the client, or did not answer in time)",
    ["channel", "outcome"],
)

WEBHOOK_ATTEMPTS = Counter(
    "notify_webhook_attempts_total",
    "Webhook delivery attempts by what followed: delivered, retried (pending, tried again"
    " later), failed (its retry window closed) or receiver_gone (a 410 disabled the"
    " subscription)",
    ["outcome"],
)
WEBHOOK_OLDEST_PENDING = Gauge(
    "notify_webhook_oldest_pending_seconds",
    "Age of each active subscription's oldest pending delivery (0 when none), read from the"
    " database: the same on every replica",
    ["subscription_id"],
)
WEBHOOK_SUBSCRIPTIONS = Gauge(
    "notify_webhook_subscriptions",
    "Webhook subscriptions by status (active, disabled), read from the database",
    ["status"],
)
TWILIO_LOOKUPS = Counter(
    "notify_twilio_lookups_total",
    "Looks at Twilio's recent messages or calls to a number before sending again a text or a"
    " page's call whose outcome was unknown (a timeout, a 5xx, notify stopped mid-send), by"
    " channel (sms, messaging, voice) and result (found: not sent again; not_found: sent;"
    " failed: the look-up failed, sent again)",
    ["channel", "result"],
)
WHATSAPP_UNSENDABLE = Counter(
    "notify_whatsapp_unsendable_total",
    "Messages by WhatsApp (MESSAGING_PROVIDER=twilio) not sent because no approved template"
    " carries them: by template, language and reason (whatsapp_template_unmapped: nothing in"
    " TWILIO_WHATSAPP_CONTENT for them; whatsapp_variable_missing: every mapped entry lacks a"
    " value). A client's message goes by their next channel instead",
    ["template", "language", "reason"],
)

# Every outcome and status shows from the start (at 0), so rates and alerts see a series.
for _outcome in ("delivered", "retried", "failed", "receiver_gone"):
    WEBHOOK_ATTEMPTS.labels(_outcome)
for _status in ("active", "disabled"):
    WEBHOOK_SUBSCRIPTIONS.labels(_status)
for _channel in ("sms", "messaging"):
    for _role in ("primary", "fallback"):
        PROVIDER_AUTH_REJECTIONS.labels(_channel, _role)
for _channel in ("sms", "messaging"):
    OPTED_OUT_SKIPS.labels(_channel)
for _state in ("current", "previous", "unknown"):
    SMS_OPT_OUTS.labels(_state)
for _keyword in ("stop", "start", "help", "confirm", "cancel", "ack", "escalate", "other"):
    INBOUND_SMS.labels(_keyword)
for _channel in ("sms", "messaging"):
    for _receipt in ("delivered", "failed", "undelivered"):
        DELIVERY_RECEIPTS.labels(_channel, _receipt)
for _outcome in ("resent", "given_up"):
    RECEIPT_RESENDS.labels(_outcome)
FALLBACK_OUTCOMES = ("queued", "sent", "failed", "expired", "no_address", "dropped")
for _channel in ("sms", "messaging"):
    for _outcome in FALLBACK_OUTCOMES:
        RECEIPT_FALLBACKS.labels(_channel, _outcome)
for _channel in ("sms", "messaging", "voice"):
    for _result in ("found", "not_found", "failed"):
        TWILIO_LOOKUPS.labels(_channel, _result)
