"""Signed links: one mechanism for every link that acts without a sign-in.

A token names its `purpose` (what it may be used for: a calendar feed, a page acknowledgement,
a check-in form), its `subject` (the thing it opens), optionally the `person` it acts as, and
when it expires. It is signed with the service's `LINK_SIGNING_KEY` (itsdangerous, HMAC), and
the purpose is part of the signing salt, so a token minted for one purpose never opens another.
Keys rotate: after a new `LINK_SIGNING_KEY`, the keys it replaced (`LINK_SIGNING_PREVIOUS_KEYS`)
still verify, so links already sent keep working until the operator drops them; only the
current key signs.
Each token carries a random `link_id`, so a caller that needs single use can record it.

`verify` tells a token that was altered (or signed with another key, or for another purpose:
`LinkTampered`, answer 403) from a genuine one that has expired (`LinkExpired`, answer 410).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "counseling-link:"
DEV_LINK_SIGNING_KEY = "dev-link-signing-key"  # the development stack's key (never in production)


class LinkError(Exception):
    """The token cannot be used."""


class LinkTampered(LinkError):
    """Not a token this key signed for this purpose."""


class LinkExpired(LinkError):
    """A genuine token past its expiry."""

    def __init__(self, link: "SignedLink") -> None:
        super().__init__(f"the link expired at {link.expires_at.isoformat()}")
        self.link = link


@dataclass(frozen=True)
class SignedLink:
    purpose: str
    subject: str
    person: str | None
    expires_at: datetime
    link_id: UUID


class InvalidLinkKey(ValueError):
    """`LINK_SIGNING_KEY` cannot be used (outside a development stack, or at all)."""


class LinkSigner:
    """Signs with one secret key; verifies with it and the keys it replaced."""

    def __init__(self, secret_key: str, previous_keys: Sequence[str] = ()) -> None:
        if not secret_key:
            # A service that signs at start (crisis) meets an empty key here first.
            raise InvalidLinkKey("LINK_SIGNING_KEY is empty; set a long random value")
        # itsdangerous signs with the last key of the list and verifies with any of them.
        self._keys = [*(k for k in previous_keys if k), secret_key]

    def sign(
        self, purpose: str, subject: str, *, expires_at: datetime, person: str | None = None
    ) -> str:
        payload = {
            "s": subject,
            "p": person,
            "e": int(expires_at.timestamp()),
            "j": uuid4().hex,
        }
        return str(self._serializer(purpose).dumps(payload))

    def verify(self, token: str, purpose: str, *, now: datetime) -> SignedLink:
        """The link `token` stands for; raises `LinkTampered` or `LinkExpired`."""
        try:
            payload = self._serializer(purpose).loads(token)
            link = SignedLink(
                purpose,
                str(payload["s"]),
                None if payload["p"] is None else str(payload["p"]),
                datetime.fromtimestamp(int(payload["e"]), UTC),
                UUID(hex=payload["j"]),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            raise LinkTampered("the link is not valid") from None
        if now >= link.expires_at:
            raise LinkExpired(link)
        return link

    def _serializer(self, purpose: str) -> URLSafeSerializer:
        return URLSafeSerializer(self._keys, salt=_SALT + purpose)


LINK_KEY_MIN_LENGTH = 32
"""Characters a link signing key needs outside a development stack: `openssl rand -hex 16`
at least (the docs suggest `-hex 32`); a short key can be guessed offline from one link."""


def check_link_key_allowed(
    secret_key: str, *, development_mode: bool, previous_keys: Sequence[str] = ()
) -> None:
    """Refuse to serve with an empty, a short or the well-known development key unless
    development mode is set explicitly: anyone could forge a link signed with it. A previous key
    verifies, so it may not be the development key either."""
    if development_mode:
        return
    if not secret_key.strip() or secret_key == DEV_LINK_SIGNING_KEY:
        raise InvalidLinkKey(
            "LINK_SIGNING_KEY is empty or the development stack's key; set a long random"
            " value (or DEVELOPMENT_MODE=true for a development stack)"
        )
    if len(secret_key.strip()) < LINK_KEY_MIN_LENGTH:
        raise InvalidLinkKey(
            f"LINK_SIGNING_KEY is shorter than {LINK_KEY_MIN_LENGTH} characters; set a long"
            " random value (`openssl rand -hex 32`)"
        )
    if DEV_LINK_SIGNING_KEY in previous_keys:
        raise InvalidLinkKey(
            "LINK_SIGNING_PREVIOUS_KEYS holds the development stack's key: anyone could forge"
            " a link it verifies; remove it"
        )


def digest_states(
    by_key: dict[str | None, int], current: str, previous: frozenset[str]
) -> dict[str, int]:
    """Stored digests counted by the fingerprint of the key that made them → by state:
    `current` (LINK_SIGNING_KEY), `previous` (one of LINK_SIGNING_PREVIOUS_KEYS) or `unknown`
    (a key no longer listed, or none recorded). Operators drop a previous key once `previous`
    and `unknown` are 0."""
    states = dict.fromkeys(("current", "previous", "unknown"), 0)
    for key, n in by_key.items():
        state = "current" if key == current else "previous" if key in previous else "unknown"
        states[state] += n
    return states
