"""A fake of Twilio's Messages and Calls APIs on 127.0.0.1, for tests (the real one is never
called).

`POST /2010-04-01/Accounts/{sid}/Messages.json` (form) records the message (a text's `Body`, or
a WhatsApp template's `ContentSid` and `ContentVariables`, `To=whatsapp:+…`) and answers 201
with a Message resource, or what the test scripted for that recipient (an HTTP status with a
Twilio error code, or a delay longer than the client waits); `GET` of the same path lists the
messages it created (newest first, `To` and `From` filtered), as Twilio's list does.
`POST /2010-04-01/Accounts/{sid}/Calls.json` (form: `To`, `From`, `Url`, `StatusCallback`…)
records the call and answers 201 with a Call resource (`CA…`), or what was scripted; nothing
is dialled: a test plays Twilio's side by posting to the call's `Url` itself; `GET` of the
same path lists the calls (`To`, `From` and `StartTime>` filtered: `StartTime>=YYYY-MM-DD`).
`fail_lists` makes the next lists answer 500.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from counseling_shared import twilio_signature

ACCOUNT_SID = "AC00000000000000000000000000000001"
AUTH_TOKEN = "fake-twilio-auth-token"  # noqa: S105 (a test credential)
_CALL = "call:"  # the script's key prefix for calls


@dataclass
class Posted:
    path: str
    authorization: str
    form: dict[str, str]

    @property
    def is_call(self) -> bool:
        return self.path.endswith("/Calls.json")

    @property
    def content_sid(self) -> str | None:
        """A WhatsApp template's `ContentSid` (None for a text sent as `Body`)."""
        return self.form.get("ContentSid")

    @property
    def content_variables(self) -> dict[str, str]:
        """Its `ContentVariables`, parsed (a JSON object of strings, as Twilio takes it)."""
        parsed: dict[str, str] = json.loads(self.form.get("ContentVariables") or "{}")
        return parsed


@dataclass
class Scripted:
    status: int = 201
    code: int | None = None
    delay: float = 0.0  # seconds before answering (a client that waits less times out)
    record: bool = True  # whether Twilio "took" the message (listed afterwards)


@dataclass
class FakeTwilio:
    posted: list[Posted] = field(default_factory=list)
    gets: list[dict[str, str]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    script: dict[str, list[Scripted]] = field(default_factory=dict)
    failing_lists: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, to: str, *answers: Scripted) -> None:
        """The next answers to messages for `to` (then 201)."""
        with self.lock:
            self.script.setdefault(to, []).extend(answers)

    def answer_calls(self, to: str, *answers: Scripted) -> None:
        """The next answers to calls to `to` (then 201); messages to it are not affected."""
        with self.lock:
            self.script.setdefault(_CALL + to, []).extend(answers)

    def fail_lists(self, count: int = 1) -> None:
        """The next `count` lists (messages or calls) answer 500."""
        with self.lock:
            self.failing_lists += count

    def lists_for(self, number: str, *, calls: bool = False) -> list[dict[str, str]]:
        """The queries of the lists of messages (or calls) to `number` asked for."""
        with self.lock:
            return [
                g for g in self.gets if g.get("To") == number and (g["path"] == "calls") == calls
            ]

    def to(self, number: str) -> list[Posted]:
        """The messages posted to `number` (calls: `calls_to`)."""
        with self.lock:
            return [p for p in self.posted if p.form.get("To") == number and not p.is_call]

    def whatsapp_to(self, number: str) -> list[Posted]:
        """The WhatsApp messages posted to `number` (`To=whatsapp:<number>`)."""
        return self.to(f"whatsapp:{number}")

    def calls_to(self, number: str) -> list[Posted]:
        with self.lock:
            return [p for p in self.posted if p.form.get("To") == number and p.is_call]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the server side -------------------------------------------------------------------

    def _post(
        self, path: str, authorization: str, form: dict[str, str]
    ) -> tuple[Scripted, dict[str, Any]]:
        """What to answer and the resource this post created (empty when none): handed back
        rather than read from `created` later, when another post may have been inserted."""
        with self.lock:
            self.posted.append(Posted(path, authorization, form))
            call = path.endswith("/Calls.json")
            left = self.script.get((_CALL if call else "") + form.get("To", ""), [])
            scripted = left.pop(0) if left else Scripted()
            made: dict[str, Any] = {}
            if scripted.record and scripted.status < 300:
                made = self._call(form) if call else self._resource(form)
                self.created.insert(0, made)
        return scripted, made

    def _call(self, form: dict[str, str]) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        return {
            "sid": f"CA{len(self.created):032x}",
            "to": form.get("To"),
            "from": form.get("From"),
            "status": "queued",
            "date_created": now,
            "start_time": now,
        }

    def _list(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        calls = path.endswith("/Calls.json")
        with self.lock:
            self.gets.append({**query, "path": "calls" if calls else "messages"})
            if self.failing_lists:
                self.failing_lists -= 1
                return 500, {"code": 20500, "message": "Internal Server Error", "status": 500}
            found = [
                r
                for r in self.created
                if r["sid"].startswith("CA" if calls else "SM")
                and r["to"] == query.get("To")
                and query.get("From", r["from"]) == r["from"]
                and _started_since(r, query.get("StartTime>"))
            ]
        return 200, {"calls" if calls else "messages": found}

    def _resource(self, form: dict[str, str]) -> dict[str, Any]:
        return {
            "sid": f"SM{len(self.created):032d}",
            "to": form.get("To"),
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body"),
            # (Twilio fills `body` with a template's text; its variables are not listed.)
            "content_sid": form.get("ContentSid"),
            "status": "queued",
            "date_created": format_datetime(datetime.now(UTC)),
        }


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            scripted, made = fake._post(self.path, self.headers.get("Authorization", ""), form)
            time.sleep(scripted.delay)
            if scripted.status < 300:
                body: dict[str, Any] = made
            else:
                body = {"code": scripted.code, "message": "refused", "status": scripted.status}
            self._json(scripted.status, body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            self._json(*fake._list(url.path, dict(parse_qsl(url.query))))

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting

    return Handler


def _started_since(resource: dict[str, Any], day: str | None) -> bool:
    """Twilio's `StartTime>=YYYY-MM-DD`: started on or after that day's midnight (UTC)."""
    if day is None:
        return True
    started = resource.get("start_time")
    if not started:  # not dialled yet
        return False
    return parsedate_to_datetime(str(started)).date().isoformat() >= day


def signed(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    """The headers Twilio sends with a form post of `params` to `url`."""
    return {
        twilio_signature.HEADER: twilio_signature.signature(token, url, params),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def notify_twilio_settings(
    api_url: str, *, webhook_base_url: str, sender: str = "+15005550006"
) -> dict[str, Any]:
    """notify's settings for texting (and calling) through Twilio at `api_url` (this fake's
    `url`), with its webhooks signed for `webhook_base_url`."""
    return {
        "sms_provider": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": sender,
        "twilio_api_url": api_url,
        "twilio_webhook_base_url": webhook_base_url,
    }


WHATSAPP_SENDER = "+15005550007"


def notify_whatsapp_settings(
    api_url: str, *, webhook_base_url: str, content: str, sender: str = WHATSAPP_SENDER
) -> dict[str, Any]:
    """notify's settings for the messaging channel as WhatsApp through Twilio at `api_url`
    (SMS stays with its webhook provider), with `content` as TWILIO_WHATSAPP_CONTENT."""
    return {
        "messaging_provider": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_whatsapp_from": sender,
        "twilio_whatsapp_content": content,
        "twilio_api_url": api_url,
        "twilio_webhook_base_url": webhook_base_url,
    }
