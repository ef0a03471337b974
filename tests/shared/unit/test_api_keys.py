"""`API_KEYS`: roles, sites, staff members and digests (contract: Identity, roles, audit)."""

import hashlib
from pathlib import Path
from uuid import uuid4

import pytest

from counseling_shared.http.auth import (
    DEV_ADMIN_KEY,
    InvalidApiKeys,
    KeyRing,
    Role,
    check_keys_allowed,
)
from counseling_shared.service import ServiceDefinition, create_app
from counseling_shared.settings import ServiceSettings

SITE_A, SITE_B, STAFF = uuid4(), uuid4(), uuid4()


def test_a_bare_key_is_an_admin_of_every_site() -> None:
    principal = KeyRing("old-key").lookup("old-key")

    assert principal is not None
    assert (principal.role, principal.site_ids, principal.staff_id) == (Role.ADMIN, None, None)


def test_the_compatible_site_list_form_is_an_admin_of_those_sites() -> None:
    principal = KeyRing(f"k={SITE_A}|{SITE_B}").lookup("k")

    assert principal is not None
    assert (principal.role, principal.site_ids) == (Role.ADMIN, frozenset({SITE_A, SITE_B}))


def test_each_entry_names_its_role_sites_and_staff_member() -> None:
    ring = KeyRing(
        f"a;role=admin;sites=*, i;role=integration;sites={SITE_A},"
        f" s;role=staff;sites={SITE_A}|{SITE_B};staff={STAFF}"
    )

    admin, integration, staff = (ring.lookup(k) for k in ("a", "i", "s"))

    assert admin is not None
    assert (admin.role, admin.site_ids) == (Role.ADMIN, None)
    assert integration is not None
    assert (integration.role, integration.site_ids) == (Role.INTEGRATION, frozenset({SITE_A}))
    assert staff is not None
    assert (staff.role, staff.staff_id) == (Role.STAFF, STAFF)
    assert staff.actor.kind == "staff"
    assert staff.actor.id == str(STAFF)
    assert admin.actor.kind == "key"
    assert admin.actor.id == admin.key_id


def test_every_site_is_said_with_a_star_or_by_leaving_the_list_out() -> None:
    ring = KeyRing("a, b=*, c;role=admin;sites=*, d;role=admin")

    assert [p and p.site_ids for p in (ring.lookup(k) for k in "abcd")] == [None] * 4
    assert all(ring.lookup(k) is not None for k in "abcd")


def test_a_secret_given_as_its_sha256_digest_matches_the_key() -> None:
    digest = hashlib.sha256(b"the-real-key").hexdigest()
    ring = KeyRing(f"sha256:{digest};role=integration;sites={SITE_A}")

    found = ring.lookup("the-real-key")

    assert found is not None
    assert found.role is Role.INTEGRATION
    assert ring.lookup(f"sha256:{digest}") is None  # the digest itself is not a key
    assert ring.lookup("the-real-key ") is None


def test_a_key_id_never_shows_the_key() -> None:
    principal = KeyRing("s3cret-value").lookup("s3cret-value")

    assert principal is not None
    assert "s3cret" not in principal.key_id


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("k;role=integration", "needs a list of sites"),
        ("k;role=staff;staff=" + str(STAFF), "needs a list of sites"),
        ("k;role=integration;sites=*", "needs a list of sites"),
        (f"k;role=staff;sites={SITE_A}", "names its staff member"),
        (f"k;role=integration;sites={SITE_A};staff={STAFF}", "only a staff key"),
        (f"k;role=owner;sites={SITE_A}", "role must be"),
        ("k;role=admin;colour=red", "unknown option"),
        ("k;role=admin;sites=not-a-uuid", "not a UUID"),
        ("sha256:abcd;role=admin", "64 hex digits"),
        (";role=admin", "empty"),
        # A list written but empty (an unset variable) never means every site.
        ("k=", "site list is empty"),
        ("k= ", "site list is empty"),
        ("k=|", "site list is empty"),
        ("k;role=admin;sites=", "site list is empty"),
        ("k;role=integration;sites=", "site list is empty"),
    ],
    ids=lambda value: str(value).replace(str(SITE_A), "site").replace(str(STAFF), "staff"),
)
def test_an_entry_that_cannot_be_used_is_refused_at_start_up(spec: str, reason: str) -> None:
    with pytest.raises(InvalidApiKeys, match=reason):
        KeyRing(spec)


def test_the_development_key_needs_development_mode() -> None:
    plain = KeyRing(f"{DEV_ADMIN_KEY},other")
    digested = KeyRing("sha256:" + hashlib.sha256(DEV_ADMIN_KEY.encode()).hexdigest())

    for ring in (plain, digested):
        with pytest.raises(InvalidApiKeys, match="DEVELOPMENT_MODE"):
            check_keys_allowed(ring, development_mode=False)
        check_keys_allowed(ring, development_mode=True)
    check_keys_allowed(KeyRing("a-real-key"), development_mode=False)


def test_a_service_refuses_to_start_on_the_development_key_outside_development_mode(
    tmp_path: Path,
) -> None:
    def definition(development_mode: bool) -> ServiceDefinition:
        settings = ServiceSettings(api_keys=DEV_ADMIN_KEY, development_mode=development_mode)
        return ServiceDefinition(name="probe", settings=settings, migrations_dir=tmp_path)

    with pytest.raises(InvalidApiKeys, match="DEVELOPMENT_MODE"):
        create_app(definition(development_mode=False))
    assert create_app(definition(development_mode=True)) is not None
