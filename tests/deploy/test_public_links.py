"""Every path booking builds on `BOOKING_BASE_URL` is named where operators set it (compose's
comment, docs/operations.md's variable table and its Ingress paragraph): an Ingress written
from the guide must expose each, or those links are dead for the people they are sent to."""

from __future__ import annotations

import re

from tests.deploy.support import ROOT

BOOKING = ROOT / "services/booking/booking"
# `f"{base}/staff/{staff_id}/calendar.ics?token=…"`, where `base` is BOOKING_BASE_URL's value.
_LINK = re.compile(r'f"\{base\}(/[^"?]*)')


def _paths_built_on_the_base_url() -> set[str]:
    found = set()
    for path in BOOKING.rglob("*.py"):
        text = path.read_text()
        if "booking_base_url" not in text and "self.base_url" not in text:
            continue  # e.g. FHIR's links, built on the request's own URL
        found |= {re.sub(r"\{[^}]*\}", "{id}", link) for link in _LINK.findall(text)}
    return found


def test_the_links_are_found_in_the_code() -> None:
    assert _paths_built_on_the_base_url() >= {
        "/staff/{id}/calendar.ics",
        "/waitlist/offers/{id}/accept",
        "/appointments/{id}/manage",
    }


def test_each_link_is_named_where_booking_base_url_is_set() -> None:
    guide = (ROOT / "docs/operations.md").read_text()
    row = next(line for line in guide.splitlines() if line.startswith("| `BOOKING_BASE_URL`"))
    ingress = next(p for p in guide.split("\n\n") if "add an Ingress" in p)
    compose = (ROOT / "docker-compose.yml").read_text()
    for path in sorted(_paths_built_on_the_base_url()):
        assert f"`{path}`" in row, f"docs/operations.md's BOOKING_BASE_URL row omits {path}"
        assert f"`{path}`" in ingress, f"docs/operations.md's Ingress paragraph omits {path}"
        assert path in compose, f"docker-compose.yml's BOOKING_BASE_URL comment omits {path}"
