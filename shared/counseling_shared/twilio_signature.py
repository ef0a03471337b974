"""Twilio's request signature (`X-Twilio-Signature`) and its reply format (TwiML).

Twilio signs each webhook it posts: HMAC-SHA1, keyed by the account's auth token, of the full
URL it called (scheme, host, path and query string, as configured in Twilio) followed by every
POST parameter, sorted by name, as name then value with no separator; base64. Hand-written
(15 lines) rather than the `twilio` package: that package brings an HTTP stack of its own
(requests, aiohttp) for one function; the tests check it against Twilio's documented values.

Twilio is not consistent about the default port (`:443` for https, `:80` for http): its own
libraries accept the URL with it and without it, and so does `valid`. A non-default port is
part of the URL the operator configured and stays as written.
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape

HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "http": 80}


Params = Mapping[str, str] | Iterable[tuple[str, str]]
"""A form: a mapping, or its (name, value) pairs as posted (a name may come more than once)."""


def signature(token: str, url: str, params: Params) -> str:
    """Twilio's way, as its libraries sign and check: each name sorted, then each of its
    distinct values sorted. Every pair of the form is signed, so none can be added to a signed
    form (a repeated name's first value was not signed when only the last was kept)."""
    pairs = params.items() if isinstance(params, Mapping) else params
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(name + v for name in sorted(values) for v in sorted(values[name]))
    mac = hmac.new(token.encode(), signed.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def url_variants(url: str) -> list[str]:
    """`url` as given, and with its scheme's default port added or removed."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if default is None or parts.port not in (None, default):
        return [url]
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = userinfo + "@" if userinfo else ""
    bare = urlunsplit(parts._replace(netloc=prefix + host))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}"))
    return [url, *(u for u in (bare, with_port) if u != url)]


def valid(token: str, url: str, params: Params, given: str) -> bool:
    """Whether `given` is Twilio's signature of this request (compared in constant time)."""
    sent = given.encode()
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    return any(
        hmac.compare_digest(signature(token, candidate, pairs).encode(), sent)
        for candidate in url_variants(url)
    )


def twiml(messages: Iterable[str] = ()) -> str:
    """A TwiML answer: `<Message>` for each text Twilio should send back to the sender (none:
    an empty `<Response/>`, Twilio sends nothing; an empty text is none)."""
    body = "".join(f"<Message>{escape(text)}</Message>" for text in messages if text)
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
