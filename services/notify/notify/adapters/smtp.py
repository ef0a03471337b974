"""Email through SMTP (aiosmtplib), one connection per message."""

from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from counseling_shared.clock import Clock
from notify.application.ports import OutgoingMessage
from notify.domain.notification import DeliveryOutcome

MESSAGE_ID_DOMAIN = "notify.counseling-suite"


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
        try:
            await aiosmtplib.send(
                email,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._start_tls,
                use_tls=self._use_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients] or [550]
            return _by_reply_code(min(codes))
        except aiosmtplib.SMTPResponseException as exc:
            return _by_reply_code(exc.code)
        except (aiosmtplib.SMTPTimeoutError, TimeoutError):
            return DeliveryOutcome.transient("smtp_timeout")
        except (aiosmtplib.SMTPException, OSError):
            return DeliveryOutcome.transient("smtp_unreachable")
        return DeliveryOutcome.sent()


def _by_reply_code(code: int) -> DeliveryOutcome:
    """4xx replies are temporary by definition (RFC 5321); 5xx are not worth repeating."""
    if 400 <= code < 500 or code < 0:
        return DeliveryOutcome.transient(f"smtp_{code if code > 0 else 'reply'}")
    return DeliveryOutcome.permanent(f"smtp_{code}")
