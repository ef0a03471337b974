"""crisis's settings from the environment."""

import pytest

from counseling_shared.settings import ServiceSettings
from crisis.settings import CrisisSettings


def test_crisis_relay_looks_every_second_while_listening_and_its_timers_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LISTENING_POLL", raising=False)
    crisis = CrisisSettings()
    assert crisis.relay_listening_poll() == 1.0  # pages go through its relay
    assert crisis.listening_poll == 10.0  # its timers' deadlines are known

    monkeypatch.setenv("LISTENING_POLL", "0.5")
    assert CrisisSettings().relay_listening_poll() == 0.5


def test_other_services_relays_take_listening_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LISTENING_POLL", raising=False)
    assert ServiceSettings(service_name="booking").relay_listening_poll() == 10.0
