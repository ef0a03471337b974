"""Bearer API keys with a role and sites (contract: Identity, roles, audit).

`API_KEYS` is a comma-separated list of entries, each one of:

- `<secret>` - an `admin` of every site (kept for compatibility);
- `<secret>=<site_id>|<site_id>` - an `admin` of the listed sites (kept for compatibility);
- `<secret>;role=<admin|integration|staff>;sites=<site_id>|<site_id>[;staff=<staff_id>]` -
  `sites=*` (or no `sites`) means every site and is allowed for `admin` only; a `staff` entry
  names its staff member.

A site list that is written but empty (`<secret>=`, `sites=`) is refused, whatever the role: an
unset variable must never make an admin of every site.

`<secret>` is the key itself or `sha256:<64 hex digits>`, the SHA-256 of the key, so that the
configuration need not hold the key. Keys are compared by digest, in constant time.

A `staff` key stops working as soon as its service knows the staff member was deactivated
(booking's StaffDeactivated): the service gives `ApiKeyAuth` a look-up of its own projection,
asked for `staff` keys only, and the key gets a 403 `staff-deactivated`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from fastapi import Request

from counseling_shared import audit
from counseling_shared.http.problems import Problem

DEV_ADMIN_KEY = "dev-admin-key"  # the development stack's admin key (never in production)
_DIGEST_PREFIX = "sha256:"


class Role(StrEnum):
    ADMIN = "admin"
    INTEGRATION = "integration"
    STAFF = "staff"


@dataclass(frozen=True)
class Principal:
    """Who is calling: identified by a hash of the key, never the key itself."""

    key_id: str
    site_ids: frozenset[UUID] | None  # None: every site
    role: Role = Role.ADMIN
    staff_id: UUID | None = None  # set for (and only for) a `staff` key

    def can_access(self, site_id: UUID) -> bool:
        return self.site_ids is None or site_id in self.site_ids

    def require_site(self, site_id: UUID) -> None:
        audit.note_site(site_id)
        if not self.can_access(site_id):
            raise Problem(403, "forbidden", "Forbidden", "This API key has no access to that site.")

    def sees_client_free_text(self, site_id: UUID) -> bool:
        """Free text about a client goes to `admin` and to `staff` of the client's site."""
        return self.can_access(site_id) and self.role in (Role.ADMIN, Role.STAFF)

    @property
    def actor(self) -> audit.Actor:
        if self.role is Role.STAFF and self.staff_id is not None:
            return audit.Actor("staff", str(self.staff_id))
        return audit.Actor("key", self.key_id)


class InvalidApiKeys(ValueError):
    """`API_KEYS` cannot be used; the message names the entry (by position, never the key)."""


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


def _digest_of(secret: str, position: int) -> bytes:
    if secret.startswith(_DIGEST_PREFIX):
        hex_digest = secret.removeprefix(_DIGEST_PREFIX)
        try:
            digest = bytes.fromhex(hex_digest)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise InvalidApiKeys(f"API_KEYS entry {position}: sha256: needs 64 hex digits")
        return digest
    if not secret:
        raise InvalidApiKeys(f"API_KEYS entry {position}: the key is empty")
    return hashlib.sha256(secret.encode()).digest()


def _sites(text: str, position: int) -> frozenset[UUID] | None:
    """The sites of `sites=` or `key=`: `*` is every site. A list written but empty (`key=`,
    `sites=`, often an unset variable) is refused: it must never mean every site."""
    if text.strip() == "*":
        return None
    try:
        sites = frozenset(UUID(s) for s in text.split("|") if s.strip())
    except ValueError:
        raise InvalidApiKeys(f"API_KEYS entry {position}: a site is not a UUID") from None
    if not sites:
        raise InvalidApiKeys(
            f"API_KEYS entry {position}: the site list is empty; name sites, or write * for"
            " every site (admin only)"
        )
    return sites


def _parse_entry(item: str, position: int) -> _Entry:
    if ";" not in item:  # the compatible forms: `key` or `key=site|site`, both admin
        secret, has_sites, sites = item.partition("=")
        digest = _digest_of(secret, position)
        site_ids = _sites(sites, position) if has_sites else None
        return _Entry(digest, Principal(digest.hex()[:16], site_ids))
    secret, *options = item.split(";")
    fields: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or name.strip() not in ("role", "sites", "staff"):
            raise InvalidApiKeys(f"API_KEYS entry {position}: unknown option {name.strip()!r}")
        fields[name.strip()] = value.strip()
    try:
        role = Role(fields.get("role", ""))
    except ValueError:
        raise InvalidApiKeys(
            f"API_KEYS entry {position}: role must be admin, integration or staff"
        ) from None
    site_ids = _sites(fields["sites"], position) if "sites" in fields else None
    if site_ids is None and role is not Role.ADMIN:
        raise InvalidApiKeys(f"API_KEYS entry {position}: a {role} key needs a list of sites")
    staff_id: UUID | None = None
    if role is Role.STAFF:
        try:
            staff_id = UUID(fields.get("staff", ""))
        except ValueError:
            raise InvalidApiKeys(
                f"API_KEYS entry {position}: a staff key names its staff member (staff=<id>)"
            ) from None
    elif "staff" in fields:
        raise InvalidApiKeys(f"API_KEYS entry {position}: only a staff key names a staff member")
    digest = _digest_of(secret.strip(), position)
    return _Entry(digest, Principal(digest.hex()[:16], site_ids, role, staff_id))


class KeyRing:
    """The configured keys, looked up by digest in constant time."""

    def __init__(self, spec: str) -> None:
        items = [part.strip() for part in spec.split(",")]
        self._entries = [
            _parse_entry(item, position) for position, item in enumerate(items, 1) if item
        ]

    @property
    def has_dev_key(self) -> bool:
        dev = hashlib.sha256(DEV_ADMIN_KEY.encode()).digest()
        return any(hmac.compare_digest(dev, e.digest) for e in self._entries)

    def lookup(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for entry in self._entries:  # no early exit: the time does not depend on the match
            if hmac.compare_digest(digest, entry.digest):
                found = entry.principal
        return found

    def from_header(self, authorization: str) -> Principal | None:
        scheme, _, token = authorization.partition(" ")
        return self.lookup(token.strip()) if scheme.lower() == "bearer" else None


def parse_api_keys(spec: str) -> KeyRing:
    return KeyRing(spec)


def check_keys_allowed(ring: KeyRing, *, development_mode: bool) -> None:
    """Refuse to serve with the development key unless development mode is set explicitly."""
    if ring.has_dev_key and not development_mode:
        raise InvalidApiKeys(
            f"API_KEYS holds {DEV_ADMIN_KEY!r}, the development stack's key; set"
            " DEVELOPMENT_MODE=true for a development stack, or configure real keys"
        )


StaffDeactivatedLookup = Callable[[UUID], Awaitable[bool]]
"""Whether the service has learned that this staff member was deactivated (one indexed read of
its own projection; no call to another service)."""


class StaffDeactivatedProblem(Problem):
    def __init__(self) -> None:
        super().__init__(
            403,
            "staff-deactivated",
            "Staff member deactivated",
            "This staff key belongs to a staff member who has been deactivated; it is no longer"
            " accepted.",
        )


class ApiKeyAuth:
    def __init__(
        self,
        spec: str,
        *,
        development_mode: bool = True,
        staff_deactivated: StaffDeactivatedLookup | None = None,
    ) -> None:
        self._keys = KeyRing(spec)
        self._staff_deactivated = staff_deactivated
        check_keys_allowed(self._keys, development_mode=development_mode)

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def __call__(self, request: Request) -> Principal:
        principal = self._keys.from_header(request.headers.get("authorization", ""))
        if principal is None:
            raise Problem(
                401, "unauthorized", "Unauthorized", "A valid Bearer API key is required."
            )
        request.state.principal = principal
        audit.note_actor(principal.actor, sees_free_text=principal.role is not Role.INTEGRATION)
        return principal

    async def is_deactivated(
        self, principal: Principal, scope_state: MutableMapping[str, Any] | None = None
    ) -> bool:
        """Whether `principal` is a `staff` key whose member was deactivated (admin and
        integration keys are never looked up). With the request's `scope["state"]`, the answer
        is kept there for the rest of the request: the idempotency middleware and the route
        ask about the same key, and one read answers both."""
        staff_id = principal.staff_id
        if staff_id is None or self._staff_deactivated is None:
            return False
        known = scope_state.get(_DEACTIVATED) if scope_state is not None else None
        if isinstance(known, tuple) and known[0] == staff_id:
            return bool(known[1])
        answer = await self._staff_deactivated(staff_id)
        if scope_state is not None:
            scope_state[_DEACTIVATED] = (staff_id, answer)
        return answer

    async def authenticate(self, request: Request) -> Principal:
        """The caller, as `__call__`, refused with a 403 if a deactivated member's key. The actor
        is noted first, so the refusal is audited like any other."""
        principal = self(request)
        if await self.is_deactivated(principal, request_state(request.scope)):
            raise StaffDeactivatedProblem()
        return principal


_DEACTIVATED = "counseling.staff_deactivated"
"""The request state's entry holding (staff_id, deactivated) once asked."""


def request_state(scope: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The request's own state dict (`request.state` reads the same one; the server copies
    the app's state into each request's scope, so nothing here outlives the request)."""
    state: MutableMapping[str, Any] = scope.setdefault("state", {})
    return state
