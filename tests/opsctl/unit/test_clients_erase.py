"""`counselctl clients erase`: every service offers its part, and nothing runs without --yes."""

from uuid import uuid4

from typer.testing import CliRunner

from opsctl import erasure
from opsctl.cli import app
from opsctl.config import Service


def test_every_service_offers_its_erasure_and_crisis_goes_first() -> None:
    assert set(erasure.ORDER) == set(Service)
    assert erasure.ORDER[0] is Service.CRISIS
    assert erasure.ORDER[-1] is Service.BOOKING
    for service in Service:
        assert callable(erasure.erase_hook(service))


def test_erasing_without_yes_changes_nothing_and_says_why() -> None:
    answer = CliRunner().invoke(app, ["clients", "erase", str(uuid4())])

    assert answer.exit_code == 2
    assert "--yes" in answer.output
