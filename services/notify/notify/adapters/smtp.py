"""Email through SMTP (aiosmtplib), over connections kept open between messages."""

from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from counseling_shared.clock import Clock
from counseling_shared.logs import get_logger
from notify.adapters.smtp_connections import SmtpConnections
from notify.application.ports import OutgoingMessage
from notify.domain.notification import DeliveryOutcome

MESSAGE_ID_DOMAIN = "notify.counseling-suite"

IDLE_CLOSE = 30.0
"""Seconds an unused connection stays open: well under the 5 minutes a server should wait
(RFC 5321 4.5.3.2.7), so it is rarely the server that hangs up first."""

MAX_IDLE = 8
"""Idle connections kept at most (one per lane worker is all a lane uses)."""

SMTP_ERRORS = (aiosmtplib.SMTPException, OSError)
"""What a send may raise for the server's answer or its absence (TimeoutError is an OSError)."""

SERVICE_CLOSING = 421  # RFC 5321: the server is closing the connection

log = get_logger(__name__)


def message_id(notification_id: object) -> str:
    """The same notification always gets the same Message-ID, so a repeated send (after a
    crash between the provider's answer and our commit) is recognisable downstream."""
    return f"<{notification_id}@{MESSAGE_ID_DOMAIN}>"


class SmtpProvider:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        clock: Clock,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool | None = None,
        use_tls: bool = False,
        timeout: float = 30.0,
        idle_close: float = IDLE_CLOSE,
        max_idle: int = MAX_IDLE,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._clock = clock
        self._username = username or None
        self._password = password or None
        self._start_tls = start_tls
        self._use_tls = use_tls
        self._timeout = timeout
        self._connections = SmtpConnections(idle_close=idle_close, max_idle=max_idle)

    @property
    def idle_connections(self) -> int:
        return self._connections.idle_count

    def compose(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = message_id(message.notification_id)
        email["Date"] = format_datetime(self._clock.now())
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        email.set_content(message.body)
        email["Content-Language"] = message.language  # after set_content, which resets it
        return email

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        try:
            email = self.compose(message)
        except (ValueError, TypeError):
            return DeliveryOutcome.permanent("invalid_address")
        reused = self._connections.take_idle()
        if reused is not None:
            try:
                await self._transaction(reused, email)
                return DeliveryOutcome.sent()
            except SMTP_ERRORS as exc:
                if not lost_connection(exc):
                    return outcome_of(exc)
                # The server dropped a connection we kept (its idle timeout, a restart): the
                # message is not at fault, so it goes once more on a fresh connection.
                log.info("smtp_reconnect", error=type(exc).__name__)
        try:
            client = await self._connect()
            await self._transaction(client, email)
        except SMTP_ERRORS as exc:
            return outcome_of(exc)
        return DeliveryOutcome.sent()

    async def aclose(self) -> None:
        """Close the idle connections (at shutdown)."""
        await self._connections.aclose()

    async def _connect(self) -> aiosmtplib.SMTP:
        """A new connection, greeted, upgraded and logged in as `aiosmtplib.send` would."""
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            use_tls=self._use_tls,
            timeout=self._timeout,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        return client

    async def _transaction(self, client: aiosmtplib.SMTP, email: EmailMessage) -> None:
        """One mail transaction; the connection is kept for the next message unless this
        one left it in doubt (a timeout, a lost connection, a cancelled send)."""
        try:
            await client.send_message(email)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            # A refusal: aiosmtplib has reset the transaction (RSET), the session goes on.
            self._connections.give_back(client)
            raise
        except BaseException:
            client.close()
            raise
        self._connections.give_back(client)


def lost_connection(exc: BaseException) -> bool:
    """The connection failed under a message (not a refusal, not a slow server)."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == SERVICE_CLOSING
    if isinstance(exc, TimeoutError):
        return False  # a slow server: the message's own failure, as on a fresh connection
    return isinstance(exc, OSError)  # SMTPServerDisconnected is a ConnectionError too


def outcome_of(exc: BaseException) -> DeliveryOutcome:
    """The classification of every send: 4xx and 5xx by their code, timeouts and unreachable
    servers as transient."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients] or [550]
        return _by_reply_code(min(codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_reply_code(exc.code)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return DeliveryOutcome.transient("smtp_timeout")
    return DeliveryOutcome.transient("smtp_unreachable")


def _by_reply_code(code: int) -> DeliveryOutcome:
    """4xx replies are temporary by definition (RFC 5321); 5xx are not worth repeating."""
    if 400 <= code < 500 or code < 0:
        return DeliveryOutcome.transient(f"smtp_{code if code > 0 else 'reply'}")
    return DeliveryOutcome.permanent(f"smtp_{code}")
