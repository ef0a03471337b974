"""`counselctl keys new`: a new key and the `API_KEYS` entry the services accept for it."""

import json
from uuid import uuid4

from typer.testing import CliRunner

from counseling_shared.http.auth import KeyRing, Role
from opsctl.cli import app


def test_a_new_staff_key_is_accepted_with_its_role_sites_and_staff_member() -> None:
    site_a, site_b, staff = uuid4(), uuid4(), uuid4()

    result = CliRunner().invoke(
        app,
        [
            "keys",
            "new",
            "--role",
            "staff",
            "--site",
            str(site_a),
            "--site",
            str(site_b),
            "--staff",
            str(staff),
            "--json",
        ],
    )

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["key"] not in printed["api_keys_entry"]  # the line holds a digest only
    assert printed["api_keys_entry"].startswith("sha256:")
    principal = KeyRing(printed["api_keys_entry"]).lookup(printed["key"])
    assert principal is not None
    assert (principal.role, principal.site_ids, principal.staff_id) == (
        Role.STAFF,
        frozenset({site_a, site_b}),
        staff,
    )


def test_two_new_keys_differ() -> None:
    first, second = (
        json.loads(CliRunner().invoke(app, ["keys", "new", "--role", "admin", "--json"]).output)
        for _ in range(2)
    )

    assert first["key"] != second["key"]


def test_a_key_without_sites_is_refused_unless_admin() -> None:
    result = CliRunner().invoke(app, ["keys", "new", "--role", "integration"])

    assert result.exit_code == 1
    assert "needs a list of sites" in result.output
