"""A staff member's text to the center's one number, which notify takes in and hands to crisis
over core NATS request-reply on `crisis.staff_replies` (an extension; only notify may ask).

Request: `{"sender": [{"key", "digest"}, ...], "command", "code"}`: the sender's phone as
crisis's staff-phone digest (`STAFF_PHONE_PURPOSE`, HMAC-SHA256 under the shared
`LINK_SIGNING_KEY`, one per listed key, with the key's fingerprint; never the number),
what the text asks, coded (`ack` or `escalate` with its 6-character `code`, `stop`, `start`, `help`,
`other`; never the text). Extension: `resolve` with its `code` and, when the text gave a valid
digit, `resolve_outcome` (the coded outcome, e.g. `safety_plan`; absent: crisis answers the
list of outcomes and their digits). Answer: `{"outcome": "answered", "reply"}` (the text to send
back, crisis's, in the staff member's language), `{"outcome": "not_staff"}` (a STOP or START
from a phone that is no active staff member's: nothing done, answer as for a client), or
`{"outcome": "unavailable"}` (crisis's database out of reach: nothing done, ask again) or
`{"outcome": "bad_request"}`.
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from counseling_shared import phones
from counseling_shared.busauth import STAFF_REPLIES_SUBJECT as SUBJECT
from counseling_shared.codes import AlertOutcome
from counseling_shared.sms_keywords import Keyword, parse

__all__ = [
    "REPLY_WORDS",
    "RESOLVE_DIGITS",
    "STAFF_PHONE_PURPOSE",
    "SUBJECT",
    "WITH_CODE",
    "StaffCommand",
    "StaffText",
    "fold",
    "read",
    "sender_digests",
]

STAFF_PHONE_PURPOSE = "staff-phone"
"""The label of crisis's staff-phone digests (`crisis.domain.phones`)."""

# A command word, a page's code, and (`RES` only) what follows it: `ACK <code>` takes the
# alert; `ESC <code>` escalates it now (the staff member cannot); `RES <code> <n>` resolves it
# with the n-th outcome, `RES <code>` alone (or with anything but a valid digit after it) asks
# for the list.
_WITH_CODE = re.compile(r"^\s*(\S+)\s+([0-9A-Za-z]{6})(?:\s+(\S+))?\s*$")

RESOLVE_DIGITS: dict[str, AlertOutcome] = {
    str(digit): outcome for digit, outcome in enumerate(AlertOutcome, start=1)
}
"""`RES <code> <n>`: the outcomes by digit, in `AlertOutcome`'s order (1 `safety_plan` ... 5
`no_risk_found`)."""


class StaffCommand(StrEnum):
    """`ack`, `escalate` and `resolve` carry a page's code; the others none."""

    ACK = "ack"
    ESCALATE = "escalate"
    RESOLVE = "resolve"  # extension
    STOP = "stop"
    START = "start"
    HELP = "help"
    OTHER = "other"  # anything else: answered with how to ACK


@dataclass(frozen=True)
class StaffText:
    """What a staff member's text asks, coded: all of it that crosses the bus."""

    command: StaffCommand
    code: str | None = None  # `ack`'s, `escalate`'s or `resolve`'s code, upper case
    outcome: AlertOutcome | None = None  # `resolve`'s, when its digit was valid

    def as_request(self, sender: Sequence[dict[str, str]]) -> dict[str, Any]:
        request = {"sender": list(sender), "command": self.command.value, "code": self.code}
        if self.outcome is not None:  # only then: the other commands' requests are unchanged
            request["resolve_outcome"] = self.outcome.value
        return request


REPLY_WORDS: dict[str, dict[StaffCommand, tuple[str, ...]]] = {
    "en": {
        StaffCommand.ACK: ("ACK",),
        StaffCommand.ESCALATE: ("ESC",),
        StaffCommand.RESOLVE: ("RES",),
    },
    "fr": {StaffCommand.ACK: ("PRIS", "PRISE"), StaffCommand.RESOLVE: ("RÉSOLU", "RÉSOLUE")},
    "ko": {StaffCommand.ACK: ("확인",), StaffCommand.RESOLVE: ("해결",)},
    "ru": {
        StaffCommand.ACK: ("ПРИНЯТО", "ПРИНЯЛ", "ПРИНЯЛА"),
        StaffCommand.RESOLVE: ("РЕШЕНО",),
    },
}
"""The words that start a reply to a page, per staff language, the first of each the one a
page tells them. Every language's words are read from everyone (a French speaker's phone may
be set to English), so no word means one command in one language and another in another, nor
is a STOP/START/HELP keyword (`sms_keywords`). Words that are an ordinary answer to a text
("OK", "oui", "да", "네") are left out: notify reads a client's texts the same way, and
"ok thanks" must never reach crisis as an acknowledgement. `ESC` is English only."""


def fold(word: str) -> str:
    """A reply word as compared: case and accents aside ("Résolu" is "RESOLU"; Hangul and
    Cyrillic letters are kept whole; a Cyrillic IO reads as IE)."""
    decomposed = unicodedata.normalize("NFD", word)
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", bare).casefold()


_COMMAND_OF: dict[str, StaffCommand] = {
    fold(word): command
    for words in REPLY_WORDS.values()
    for command, spelled in words.items()
    for word in spelled
}


def bare_reply_word(text: str) -> StaffCommand | None:
    """The command a staff reply word alone would start (no code: `확인`, `PRIS.`), else None.
    Some are also a client's reminder word (ko `확인` confirms a reminder)."""
    return _COMMAND_OF.get(fold(text.strip().rstrip(_TRAILING).strip()))


_TRAILING = ".!?。,;:"


_BY_KEYWORD = {
    Keyword.STOP: StaffCommand.STOP,
    Keyword.START: StaffCommand.START,
    Keyword.HELP: StaffCommand.HELP,
}


WITH_CODE = frozenset({StaffCommand.ACK, StaffCommand.ESCALATE, StaffCommand.RESOLVE})
"""The commands that name a page by its code, and act on its alert."""


def read(text: str) -> StaffText:
    """`ACK <code>`, `ESC <code>`, `RES <code> [n]` (or ACK's and RES's word in a staff
    language: `REPLY_WORDS`), a STOP/START/HELP keyword (`sms_keywords`), or anything else."""
    if (matched := _WITH_CODE.match(text)) is not None:
        word, code, after = matched.groups()
        command = _COMMAND_OF.get(fold(word))
        if command is StaffCommand.RESOLVE:
            return StaffText(command, code.upper(), RESOLVE_DIGITS.get(after or ""))
        if command is not None and after is None:
            return StaffText(command, code.upper())
    keyword = parse(text).keyword
    return StaffText(_BY_KEYWORD[keyword] if keyword is not None else StaffCommand.OTHER)


def sender_digests(keys: Sequence[str], phone: str) -> list[dict[str, str]]:
    """The phone's staff-phone digest under each key (the current one first), each with its
    key's fingerprint, as the request carries them."""
    return [
        {
            "key": phones.key_fingerprint(STAFF_PHONE_PURPOSE, key),
            "digest": phones.keyed_digest(STAFF_PHONE_PURPOSE, key, phone),
        }
        for key in keys
    ]
