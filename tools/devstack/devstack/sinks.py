"""Stand-ins for the outside world: an SMTP server and SMS / messaging HTTP providers."""

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from aiosmtpd.controller import Controller

from devstack.outbox import OutboxFolder
from devstack.ports import LOOPBACK, free_port

HTTP_CHANNELS = ("sms", "messaging")


class _FailureBudget:
    """How many upcoming requests to refuse, and with which status: per channel or for any
    channel (None), per recipient or for anyone (None). A test that targets its own recipient
    cannot have its failure taken by another test's message in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left: dict[tuple[str | None, str | None], list[int]] = {}

    def add(self, count: int, channel: str | None, to: str | None = None, status: int = 0) -> None:
        with self._lock:
            left = self._left.setdefault((channel, to), [0, status])
            left[0] += count
            left[1] = status

    def take(self, channel: str, to: str | None = None) -> int | None:
        """The status to refuse this request with, or None to accept it."""
        with self._lock:
            for key in ((channel, to), (None, to), (channel, None), (None, None)):
                left = self._left.get(key)
                if left is not None and left[0] > 0:
                    left[0] -= 1
                    return left[1]
            return None


@dataclass(frozen=True)
class ReceivedEmail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    path: Path

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain", "html"))
        return part.get_content() if isinstance(part, EmailMessage) else ""


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts every message and files it as `.eml`."""

    def __init__(self, outbox_dir: Path, port: int = 0) -> None:
        self.host = LOOPBACK
        self.port = port or free_port()
        self.emails: OutboxFolder[ReceivedEmail] = OutboxFolder(outbox_dir / "email", ".eml")
        self._failures = _FailureBudget()
        self._controller = Controller(
            _SmtpHandler(self.emails, self._failures),
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,  # client names and addresses are not all ASCII
        )

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[ReceivedEmail]:
        return self.emails.items()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedEmail]:
        return self.emails.wait_for(count, timeout)

    def fail_next(self, count: int = 1, to: str | None = None) -> None:
        """Answer the next `count` messages (to `to`, or anyone) with a temporary failure
        (451)."""
        self._failures.add(count, None, to)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop(no_assert=True)  # a second stop is harmless

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _SmtpHandler:
    def __init__(self, emails: OutboxFolder[ReceivedEmail], failures: _FailureBudget) -> None:
        self.emails = emails
        self.failures = failures

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else None
        if self.failures.take("email", recipient) is not None:
            return "451 4.3.0 Temporary failure (devstack fail_next)"
        raw: bytes = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.emails.add(
            raw,
            lambda path: ReceivedEmail(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                message=message,
                path=path,
            ),
        )
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class ReceivedRequest:
    channel: str
    payload: dict[str, Any]
    headers: dict[str, str]
    # The provider saw this idempotency key before on this channel (a retried send).
    duplicate: bool
    path: Path

    @property
    def to(self) -> str:
        return str(self.payload.get("to", ""))

    @property
    def body(self) -> str:
        return str(self.payload.get("body", ""))

    @property
    def idempotency_key(self) -> str | None:
        key = self.payload.get("idempotency_key") or self.headers.get("idempotency-key")
        return None if key is None else str(key)


@dataclass
class _HttpState:
    failures: _FailureBudget = field(default_factory=_FailureBudget)
    delay: float = 0.0
    # (header, value) a request must carry, as a real provider checks its API key.
    required_auth: tuple[str, str] | None = None
    seen_keys: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class HttpSink:
    """An HTTP server on 127.0.0.1 playing the SMS (`POST /sms`) and messaging
    (`POST /messaging`) providers: JSON `{"to", "body", "idempotency_key"}` in, 200 out."""

    def __init__(self, outbox_dir: Path, port: int = 0) -> None:
        self.host = LOOPBACK
        self.folders: dict[str, OutboxFolder[ReceivedRequest]] = {
            channel: OutboxFolder(outbox_dir / channel, ".json") for channel in HTTP_CHANNELS
        }
        self.state = _HttpState()
        self._server = _SinkHttpServer((self.host, port), _SinkRequestHandler, self)
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def sms_url(self) -> str:
        return f"{self.url}/sms"

    @property
    def messaging_url(self) -> str:
        return f"{self.url}/messaging"

    def requests(self, channel: str | None = None) -> list[ReceivedRequest]:
        channels = HTTP_CHANNELS if channel is None else (channel,)
        return [item for name in channels for item in self.folders[name].items()]

    @property
    def sms(self) -> list[ReceivedRequest]:
        return self.folders["sms"].items()

    @property
    def messaging(self) -> list[ReceivedRequest]:
        return self.folders["messaging"].items()

    def wait_for(self, count: int, channel: str, timeout: float = 10.0) -> list[ReceivedRequest]:
        return self.folders[channel].wait_for(count, timeout)

    def fail_next(
        self, count: int = 1, channel: str | None = None, status: int = 503, to: str | None = None
    ) -> None:
        """Refuse the next `count` requests (on `channel`, or any; to `to`, or anyone) with
        `status`, unrecorded."""
        self.state.failures.add(count, channel, to, status)

    def require_auth(self, header: str, value: str) -> None:
        """Answer 401, unrecorded, to any request whose `header` is not `value`."""
        self.state.required_auth = (header, value)

    def set_delay(self, seconds: float) -> None:
        """Answer every request `seconds` late (recorded first, as a slow provider would)."""
        self.state.delay = seconds

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="devstack-http-sink", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def record(self, channel: str, payload: dict[str, Any], headers: dict[str, str]) -> None:
        key = payload.get("idempotency_key") or headers.get("idempotency-key")
        with self.state.lock:
            duplicate = key is not None and (channel, str(key)) in self.state.seen_keys
            if key is not None:
                self.state.seen_keys.add((channel, str(key)))
        content = json.dumps(payload, ensure_ascii=False, indent=2).encode()
        self.folders[channel].add(
            content, lambda path: ReceivedRequest(channel, payload, headers, duplicate, path)
        )


class _SinkHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        sink: HttpSink,
    ) -> None:
        self.sink = sink
        super().__init__(address, handler)


class _SinkRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as provider clients expect

    def do_POST(self) -> None:
        sink = cast(_SinkHttpServer, self.server).sink
        channel = self.path.split("?", 1)[0].strip("/")
        body = self._read_body()
        if channel not in HTTP_CHANNELS:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"unknown path {self.path}"})
            return
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        to = str(payload.get("to")) if isinstance(payload, dict) else None
        if (auth := sink.state.required_auth) is not None and self.headers.get(auth[0]) != auth[1]:
            self._answer(HTTPStatus.UNAUTHORIZED, {"error": "invalid API key"})
            return
        if (status := sink.state.failures.take(channel, to)) is not None:
            self._answer(status, {"error": "injected failure"})
            return
        if not isinstance(payload, dict) or not {"to", "body"} <= payload.keys():
            self._answer(HTTPStatus.BAD_REQUEST, {"error": 'expected JSON {"to", "body", ...}'})
            return
        sink.record(channel, payload, {k.lower(): v for k, v in self.headers.items()})
        if sink.state.delay:
            time.sleep(sink.state.delay)
        self._answer(HTTPStatus.OK, {"status": "accepted"})

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";", 1)[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()  # the blank line after the last chunk
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, body: dict[str, str]) -> None:
        content = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the outbox folder is the log


@dataclass(frozen=True)
class Sinks:
    """Both sinks writing under one outbox directory."""

    smtp: SmtpSink
    http: HttpSink
    outbox_dir: Path

    def env(self) -> dict[str, str]:
        """Environment that points a service at these sinks."""
        return {
            "SMTP_HOST": self.smtp.host,
            "SMTP_PORT": str(self.smtp.port),
            "SMS_WEBHOOK_URL": self.http.sms_url,
            "MESSAGING_WEBHOOK_URL": self.http.messaging_url,
        }
