"""Wires notify: its consumers, its HTTP routes and one delivery worker pool per lane."""

from datetime import timedelta
from pathlib import Path

import httpx

from counseling_shared import twilio_replays
from counseling_shared.codes import NotificationChannel
from counseling_shared.connections import process_connections
from counseling_shared.db import create_pool
from counseling_shared.pruner import PruneTarget
from counseling_shared.service import BackgroundTask, Runtime, ServiceDefinition
from notify.adapters import directory_store, sms_reminders
from notify.adapters.booking_directory import NatsClientDirectory
from notify.adapters.failover import FailoverProvider
from notify.adapters.http_client import provider_client
from notify.adapters.opt_out_guard import OptOutGuard, OptOutLookup
from notify.adapters.preference_links import PURPOSE as PREFERENCES_PURPOSE
from notify.adapters.preference_links import PreferenceLinks
from notify.adapters.reminder_log import ReminderLog
from notify.adapters.smtp import SmtpProvider
from notify.adapters.templates import JinjaRenderer
from notify.adapters.time_capped import TimeCapped
from notify.adapters.twilio import TwilioProvider
from notify.adapters.twilio_calls import TwilioCallProvider
from notify.adapters.twilio_whatsapp import TwilioWhatsAppProvider
from notify.adapters.unknown_outcomes import UnknownOutcomes
from notify.adapters.webhook_sender import WebhookSender
from notify.adapters.webhooks import WebhookProvider
from notify.application.delivery import Courier
from notify.application.ports import ChannelProvider
from notify.application.webhooks import WebhookCourier
from notify.domain.codes import Lane, Template
from notify.entrypoints import consumers, http, inbound_sms, twilio_inbound, webhooks_http
from notify.entrypoints.opt_out_gauges import refresh_opt_out_gauges
from notify.entrypoints.page_priority import PagesFirst
from notify.entrypoints.web import page_errors, preferences_page
from notify.entrypoints.webhook_gauges import refresh_webhook_gauges
from notify.entrypoints.webhook_worker import WebhookWorker
from notify.entrypoints.workers import LaneWorkers
from notify.settings import NotifySettings, Provider

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

PAGE_PROVIDER_TIMEOUT = 10.0
"""Seconds a page's provider call may take at most (SMTP, SMS webhook): longer settings are
capped on the crisis lane, so a stuck provider holds a page worker for 10 s, not for minutes."""

CRISIS_CHANNEL_GROUPS: tuple[frozenset[NotificationChannel], ...] = (
    frozenset({NotificationChannel.SMS, NotificationChannel.MESSAGING, NotificationChannel.VOICE}),
    frozenset({NotificationChannel.EMAIL}),
)
"""The crisis lane has a worker pool per channel group: a slow or silent SMTP server can hold
every email worker, never an SMS one. A page's call (`PAGE_CALLS`) goes with the SMS: both are
Twilio's, and a group of its own would cost another pool and LISTEN connection."""


def definition(settings: NotifySettings | None = None) -> ServiceDefinition:
    s = settings or NotifySettings()
    pages = PagesFirst()  # shared by the lanes: bulk claims wait while a page is delivered
    return ServiceDefinition(
        name="notify",
        settings=s,
        migrations_dir=MIGRATIONS,
        staff_deactivated=directory_store.is_deactivated,
        routes=consumers.routes(s),
        # The SMS provider's webhook spends its own rate budget, as on crisis; so do Twilio's.
        rate_budgets=(inbound_sms.provider_budget(s),),
        rate_form_budgets=(twilio_inbound.provider_budget(s),),
        routers=[
            http.router,
            preferences_page.router,
            webhooks_http.router,
            inbound_sms.router,
            twilio_inbound.router,
        ],
        link_purposes=(PREFERENCES_PURPOSE,),  # the client's preferences page: per-link budget
        html_error_page=page_errors.html_error_page,
        background=[
            *(lane_pool(Lane.CRISIS, s, channels, pages) for channels in CRISIS_CHANNEL_GROUPS),
            lane_pool(Lane.BULK, s, pages=pages),
            webhook_pool(s),
            refresh_webhook_gauges,
            refresh_opt_out_gauges,
        ],
        prune_targets=[
            # Twilio ids of posts acted on: a replay older than this acts again.
            PruneTarget("twilio_posts", "received_at < $1", twilio_replays.KEEP),
            # What was tried when, kept for support questions; the notifications themselves stay.
            PruneTarget("notification_attempts", "at < $1", s.prune_attempts_after),
            PruneTarget("webhook_attempts", "at < $1", s.prune_attempts_after),
            # A Twilio send of unknown outcome never tried again (its notification gave up).
            PruneTarget("twilio_unknown_outcomes", "since < $1", s.prune_attempts_after),
            # Ids of answered sends, left out of those records' look-ups (kept as long).
            PruneTarget("twilio_answered_sids", "answered_at < $1", s.prune_attempts_after),
            # Then a finished delivery whose attempts are gone, then a deleted subscription
            # with nothing left on record (in this order: each is the next one's reference).
            PruneTarget(
                "webhook_deliveries",
                "status <> 'pending' AND coalesce(delivered_at, failed_at) < $1"
                " AND NOT EXISTS (SELECT 1 FROM webhook_attempts a"
                " WHERE a.delivery_id = webhook_deliveries.id)",
                s.prune_attempts_after,
            ),
            PruneTarget(
                "webhook_subscriptions",
                "status = 'deleted' AND deleted_at < $1 AND NOT EXISTS (SELECT 1 FROM"
                " webhook_deliveries d WHERE d.subscription_id = webhook_subscriptions.id)",
                s.prune_attempts_after,
            ),
            sms_reminders.PRUNE_TARGET,  # once the appointment started: no more replies
        ],
    )


def preference_links(s: NotifySettings) -> PreferenceLinks:
    """The signed link to a client's preferences page (the footer of their emails)."""
    return PreferenceLinks(s.link_signer(), s.notify_base_url, s.preferences_link_ttl)


def listening_poll_of(lane: Lane, s: NotifySettings) -> float:
    """How long a lane's polling worker may sleep while its LISTEN connection is up. Pages keep
    the short look: a LISTEN connection dropped without a word (a firewall's idle timeout) must
    not hold a page for `LISTENING_POLL`; the bulk lane can wait that long."""
    if lane is Lane.CRISIS:
        return min(s.idle_poll, s.listening_poll)
    return s.listening_poll


def lane_pool_size(lane: Lane, s: NotifySettings) -> int:
    """A lane's pool at most: a connection per worker and one more, so a worker never waits for
    another's connection (the crisis lanes' must stay so: pages wait for nothing)."""
    return (s.crisis_workers if lane is Lane.CRISIS else s.bulk_workers) + 1


def webhook_pool_size(s: NotifySettings) -> int:
    """The webhook worker's pool at most: a connection per worker and one more."""
    return s.webhook_workers + 1


def connection_budget(s: NotifySettings) -> int:
    """PostgreSQL connections one notify process holds at most (counseling_shared.connections):
    its pool and the relay's LISTEN, and for each crisis channel group, the bulk lane and the
    webhook worker a pool of its own and a LISTEN connection."""
    pools = [
        *(lane_pool_size(Lane.CRISIS, s) for _ in CRISIS_CHANNEL_GROUPS),
        lane_pool_size(Lane.BULK, s),
        webhook_pool_size(s),
    ]
    return process_connections(s.db_pool_max, listeners=len(pools), own_pools=pools)


def lane_pool(
    lane: Lane,
    s: NotifySettings,
    channels: frozenset[NotificationChannel] | None = None,
    pages: PagesFirst | None = None,
) -> BackgroundTask:
    """A lane's workers (for some channels only, when given) with their own database
    connections and HTTP client, so nothing the bulk lane does can queue a page behind it."""
    size = s.crisis_workers if lane is Lane.CRISIS else s.bulk_workers
    retry = s.crisis_retry() if lane is Lane.CRISIS else s.bulk_retry()
    cap = PAGE_PROVIDER_TIMEOUT if lane is Lane.CRISIS else None
    name = lane.value + "".join(f"-{c.value}" for c in sorted(channels or ()))

    async def run(runtime: Runtime) -> None:
        renderer = JinjaRenderer()
        if lane is Lane.CRISIS:
            renderer.preload([Template.CRISIS_PAGE])
        pool = await create_pool(
            s.database_url,
            schema=s.database_schema,
            min_size=1,
            max_size=lane_pool_size(lane, s),
            timeouts=s.db_timeouts(),
        )
        email = smtp_provider(s, runtime, timeout_cap=cap)
        try:
            async with provider_client(_capped(s.webhook_timeout, cap)) as client:
                lookup = OptOutLookup(pool, s.link_keys)
                courier = Courier(
                    pool=pool,
                    clock=runtime.clock,
                    directory=NatsClientDirectory(runtime.nats(), s.directory_timeout),
                    providers=providers(
                        s,
                        client,
                        runtime,
                        timeout_cap=cap,
                        email=email,
                        opt_outs=lookup,
                        outcomes=UnknownOutcomes(pool, s.link_keys),
                    ),
                    renderer=renderer,
                    retry=retry,
                    defer_max_age=s.defer_max_age,
                    reply_channels=s.reply_channels(),
                    lookups=lookup,
                    preference_links=preference_links(s),
                )
                workers = LaneWorkers(
                    lane=lane,
                    size=size,
                    pool=pool,
                    dsn=s.database_url,
                    schema=s.database_schema,
                    clock=runtime.clock,
                    courier=courier,
                    lease=s.claim_lease,
                    idle_poll=s.idle_poll,
                    listening_poll=listening_poll_of(lane, s),
                    channels=channels,
                    pages=pages,
                    claim_size=s.bulk_claim if lane is Lane.BULK else 1,
                )
                runtime.definition.state[f"{name}_workers"] = workers
                await workers.run()
        finally:
            await email.aclose()
            await pool.close()

    run.__name__ = f"notify-{name}-lane"
    return run


def webhook_pool(s: NotifySettings) -> BackgroundTask:
    """The webhook worker, with its own connections and HTTP client: a slow receiver holds
    webhook workers only, never a lane's."""

    async def run(runtime: Runtime) -> None:
        pool = await create_pool(
            s.database_url,
            schema=s.database_schema,
            min_size=1,
            max_size=webhook_pool_size(s),
            timeouts=s.db_timeouts(),
        )
        try:
            async with httpx.AsyncClient(
                timeout=s.webhook_delivery_timeout, follow_redirects=False
            ) as client:
                worker = WebhookWorker(
                    pool=pool,
                    dsn=s.database_url,
                    schema=s.database_schema,
                    clock=runtime.clock,
                    courier=WebhookCourier(
                        pool=pool,
                        clock=runtime.clock,
                        sender=WebhookSender(
                            client, reach_private=s.webhooks_reach_private_addresses
                        ),
                        policy=s.webhook_retry(),
                    ),
                    lease=timedelta(seconds=s.webhook_delivery_timeout * 3),
                    concurrency=s.webhook_workers,
                    idle_poll=s.idle_poll,
                    listening_poll=s.listening_poll,
                )
                runtime.definition.state["webhook_worker"] = worker
                await worker.run()
        finally:
            await pool.close()

    run.__name__ = "notify-webhooks"
    return run


def _capped(timeout: float, cap: float | None) -> float:
    return min(timeout, cap) if cap is not None else timeout


def smtp_provider(
    s: NotifySettings, runtime: Runtime, *, timeout_cap: float | None = None
) -> SmtpProvider:
    """A lane's email provider: its connections are the lane's own, like its HTTP client."""
    return SmtpProvider(
        host=s.smtp_host,
        port=s.smtp_port,
        sender=s.smtp_from,
        clock=runtime.clock,
        username=s.smtp_username,
        password=s.smtp_password,
        start_tls=s.smtp_starttls,
        use_tls=s.smtp_tls,
        timeout=_capped(s.smtp_timeout, timeout_cap),
    )


def providers(
    s: NotifySettings,
    client: httpx.AsyncClient,
    runtime: Runtime,
    *,
    timeout_cap: float | None = None,
    email: SmtpProvider | None = None,
    opt_outs: OptOutLookup | None = None,
    outcomes: UnknownOutcomes | None = None,
) -> dict[NotificationChannel, ChannelProvider]:
    """The lane's provider per channel; with `opt_outs` (the lane's look-ups), SMS and
    messaging skip numbers that texted STOP; with `outcomes` (the lane's database), Twilio's
    sends of unknown outcome are remembered across restarts."""
    email = email or smtp_provider(s, runtime, timeout_cap=timeout_cap)

    def capped(provider: ChannelProvider) -> ChannelProvider:
        # The clients' timeouts bound each step; the cap bounds each provider's whole send
        # (each one's: a first provider that hangs must leave the fallback its own time).
        return provider if timeout_cap is None else TimeCapped(provider, timeout_cap)

    def http(channel: NotificationChannel, url: str, fallback: str | None) -> ChannelProvider:
        name: Provider = "sms" if channel is NotificationChannel.SMS else "messaging"
        sms = channel is NotificationChannel.SMS
        if sms and s.sms_provider == "twilio":
            first: ChannelProvider = twilio_provider(s, client, role="primary", outcomes=outcomes)
        elif not sms and s.messaging_provider == "twilio":
            first = whatsapp_provider(s, client, outcomes=outcomes)
        else:
            first = WebhookProvider(client, url, s.provider_auth(name), channel=channel.value)
        second: ChannelProvider
        if sms and s.sms_fallback_provider == "twilio":
            second = twilio_provider(s, client, role="fallback", outcomes=outcomes)
        elif fallback:
            second = WebhookProvider(
                client,
                fallback,
                s.provider_auth("sms_fallback" if name == "sms" else "messaging_fallback"),
                channel=channel.value,
                role="fallback",
            )
        else:
            return capped(first)
        return FailoverProvider(channel.value, capped(first), capped(second))

    def guarded(provider: ChannelProvider) -> ChannelProvider:
        if opt_outs is None:
            return provider
        # A reminder that went out is kept by its number's digest (a C/X reply finds it).
        logged = ReminderLog(provider, opt_outs.pool, s.link_keys, runtime.clock)
        return OptOutGuard(logged, opt_outs)

    calls: dict[NotificationChannel, ChannelProvider] = {}
    if s.page_calls:  # no opt-out guard: a STOP stops texts, not calls (README, "Calls")
        calls[NotificationChannel.VOICE] = capped(call_provider(s, client, outcomes))
    return {
        **calls,
        NotificationChannel.EMAIL: capped(email),
        NotificationChannel.SMS: guarded(
            http(NotificationChannel.SMS, s.sms_webhook_url, s.sms_fallback_webhook_url)
        ),
        NotificationChannel.MESSAGING: guarded(
            http(
                NotificationChannel.MESSAGING,
                s.messaging_webhook_url,
                s.messaging_fallback_webhook_url,
            )
        ),
    }


def call_provider(
    s: NotifySettings, client: httpx.AsyncClient, outcomes: UnknownOutcomes | None = None
) -> TwilioCallProvider:
    """A page's phone call through Twilio's Calls API (`PAGE_CALLS`)."""
    return TwilioCallProvider(
        client,
        api_url=s.twilio_api_url,
        account_sid=s.twilio_account_sid or "",
        auth=s.twilio_basic_auth(),
        caller=s.twilio_from or "",
        crisis_url=s.page_call_url or "",
        outcomes=outcomes,
    )


def twilio_provider(
    s: NotifySettings,
    client: httpx.AsyncClient,
    *,
    role: str,
    outcomes: UnknownOutcomes | None = None,
) -> TwilioProvider:
    """Twilio as the SMS provider (`SMS_PROVIDER=twilio`) or the second one."""
    sender = (
        {"MessagingServiceSid": s.twilio_messaging_service_sid}
        if s.twilio_messaging_service_sid
        else {"From": s.twilio_from or ""}
    )
    return TwilioProvider(
        client,
        api_url=s.twilio_api_url,
        account_sid=s.twilio_account_sid or "",
        auth=s.twilio_basic_auth(),
        sender=sender,
        callback_base=s.twilio_webhook_base_url or "",
        role=role,
        outcomes=outcomes,
    )


def whatsapp_provider(
    s: NotifySettings, client: httpx.AsyncClient, *, outcomes: UnknownOutcomes | None = None
) -> TwilioWhatsAppProvider:
    """WhatsApp through Twilio as the messaging provider (`MESSAGING_PROVIDER=twilio`): the
    SMS's account, credentials and status callbacks, approved templates instead of text."""
    return TwilioWhatsAppProvider(
        client,
        api_url=s.twilio_api_url,
        account_sid=s.twilio_account_sid or "",
        auth=s.twilio_basic_auth(),
        sender=s.whatsapp_sender(),
        callback_base=s.twilio_webhook_base_url or "",
        content=s.whatsapp_content(),
        outcomes=outcomes,
    )
