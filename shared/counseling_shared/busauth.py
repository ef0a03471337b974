"""Who may do what on the bus: one NATS user per service, plus the operator
(docs/security.md, The bus).

This is the one place the permission model lives. `server_authorization` renders it as the
`authorization {}` block of nats-server's configuration (JSON, which the server's config
format accepts); devstack, the e2e harness, `counselctl bus config` and the deployment
manifests all use it. Users authenticate with nkeys: the server holds only public keys.

A service may:
- publish its own context's subjects (`<service>.>`) and its own dead-letter copies
  (`dlq.<service>.>`);
- read info of the streams it publishes to or consumes from, create (or update) and read its
  own durables, pull from them and acknowledge their messages; nothing else of JetStream's API
  (no stream creation, update, purge or deletion; no other service's durables);
- receive replies only on its own inbox prefix (`_INBOX.<service>.>`), so no service can read
  another's replies or JetStream deliveries;
- for booking: answer the directory's subjects (`booking.directory.contact`, and
  `booking.directory.contacts` for several clients at once) and `booking.reminder_replies`
  (`allow_responses`); for the services in `DIRECTORY_CLIENTS`: ask the directory; for notify
  alone (`REMINDER_REPLY_CLIENTS`): ask booking to apply a client's reply to a reminder;
- for crisis: answer `crisis.staff_replies` (`allow_responses`), which notify alone
  (`STAFF_REPLY_CLIENTS`) may ask: a staff member's text to the center's one number.

The operator (`counselctl`) administers streams and consumers and redrives dead letters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nkeys  # type: ignore[import-untyped]

from counseling_shared.jetstream import (
    DLQ_STREAM,
    REDRIVE_PREFIX,
    ConsumerSpec,
    redrive_spec,
)
from counseling_shared.jetstream import JS_API as JS_API  # re-exported (bench/stack.py)

DIRECTORY_SUBJECT = "booking.directory.contact"
DIRECTORY_BATCH_SUBJECT = "booking.directory.contacts"
"""Several clients in one request (an extension: the one-client subject stays as it was)."""
DIRECTORY_SUBJECTS = (DIRECTORY_SUBJECT, DIRECTORY_BATCH_SUBJECT)
DIRECTORY_RESPONDER = "booking"
DIRECTORY_CLIENTS = frozenset({"notify", "crisis"})
"""The services that need client contact details at the moment of use."""
REMINDER_REPLIES_SUBJECT = "booking.reminder_replies"
"""A client's C/X reply to a reminder SMS, which notify asks booking to apply (an extension)."""
REMINDER_REPLY_CLIENTS = frozenset({"notify"})
"""Only notify receives clients' texts: only it may ask booking to confirm or cancel."""
STAFF_REPLIES_SUBJECT = "crisis.staff_replies"
"""A staff member's text (`ACK <code>`, STOP/START from a paging phone) to the center's one
number, which notify takes in and asks crisis to handle (an extension)."""
STAFF_REPLIES_RESPONDER = "crisis"
STAFF_REPLY_CLIENTS = frozenset({"notify"})
"""Only notify takes texts to the shared number in: only it may hand crisis a staff reply."""
RESPONDERS = frozenset({DIRECTORY_RESPONDER, STAFF_REPLIES_RESPONDER})

OPERATOR = "counselctl"


def inbox_prefix(user: str) -> str:
    """The reply-subject prefix a user's connection uses (nats-py's `inbox_prefix`)."""
    return f"_INBOX.{user}"


def own_stream(service: str) -> str:
    """The stream holding a context's events: one stream per producing context
    (docs/architecture.md, Subjects and streams)."""
    return service.upper()


def new_seed() -> str:
    """A fresh nkey user seed (`SU…`): the user's secret, given only to that user."""
    seed: bytes = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode()


def public_key_of(seed: str) -> str:
    """The public key (`U…`) the server is configured with for the user holding `seed`."""
    key: bytes = nkeys.from_seed(bytearray(seed.strip().encode())).public_key
    return key.decode()


@dataclass(frozen=True)
class BusUser:
    """One NATS user: its name (for humans and logs), nkey public key, permissions."""

    name: str
    public_key: str
    permissions: Mapping[str, Any]


def durables_of(routes: Iterable[ConsumerSpec]) -> list[ConsumerSpec]:
    """A service's durables: each route's, and each route's redrive durable on the DLQ."""
    specs: list[ConsumerSpec] = []
    for spec in routes:
        specs += [spec, redrive_spec(spec)]
    return specs


def streams_needed(service: str, consumers: Sequence[ConsumerSpec]) -> list[str]:
    """The streams a service waits for before it is ready: its own, the DLQ, and those its
    durables read."""
    names = [own_stream(service), DLQ_STREAM, *(c.stream for c in consumers)]
    return list(dict.fromkeys(names))


def _consumer_api(spec: ConsumerSpec) -> list[str]:
    stream, durable = spec.stream, spec.durable
    if len(spec.filter_subjects) == 1:
        # nats-py names the one filter in the subject: the server holds the durable to it.
        create = [f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}.{spec.filter_subjects[0]}"]
    else:
        create = [f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}"]
    return [
        *create,
        f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        # A replica shutting down hands the durable's pin to a standby at once (inbox.py).
        f"{JS_API}.CONSUMER.UNPIN.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def service_permissions(service: str, consumers: Sequence[ConsumerSpec]) -> dict[str, Any]:
    """The publish/subscribe allow-lists of one service's user; `consumers` are all its
    durables (`durables_of` its routes)."""
    publish = [f"{service}.>", f"dlq.{service}.>"]
    publish += [f"{JS_API}.STREAM.INFO.{s}" for s in streams_needed(service, consumers)]
    for spec in consumers:
        publish += _consumer_api(spec)
    if service in DIRECTORY_CLIENTS:
        publish += DIRECTORY_SUBJECTS
    if service in REMINDER_REPLY_CLIENTS:
        publish.append(REMINDER_REPLIES_SUBJECT)
    if service in STAFF_REPLY_CLIENTS:
        publish.append(STAFF_REPLIES_SUBJECT)
    subscribe = [f"{inbox_prefix(service)}.>"]
    permissions: dict[str, Any] = {
        "publish": {"allow": list(dict.fromkeys(publish))},
        "subscribe": {"allow": subscribe},
    }
    if service == DIRECTORY_RESPONDER:
        subscribe += [*DIRECTORY_SUBJECTS, REMINDER_REPLIES_SUBJECT]
    if service == STAFF_REPLIES_RESPONDER:
        subscribe.append(STAFF_REPLIES_SUBJECT)
    if service in RESPONDERS:
        # One reply per request, within a minute, to whoever asked.
        permissions["allow_responses"] = {"max": 1, "expires": "1m"}
    return permissions


def operator_permissions() -> dict[str, Any]:
    """counselctl: the whole JetStream API (streams, consumers) and redriving dead letters."""
    return {
        "publish": {"allow": [f"{JS_API}.>", f"{REDRIVE_PREFIX}.>"]},
        "subscribe": {"allow": [f"{inbox_prefix(OPERATOR)}.>"]},
    }


def server_authorization(users: Iterable[BusUser]) -> dict[str, Any]:
    """nats-server's `authorization` block: nothing connects without one of these nkeys."""
    return {
        "authorization": {
            "users": [{"nkey": u.public_key, "permissions": dict(u.permissions)} for u in users]
        }
    }


def render_server_authorization(users: Iterable[BusUser]) -> str:
    """The block as text for a file that nats-server `include`s (its format accepts JSON)."""
    return json.dumps(server_authorization(users), indent=2) + "\n"
