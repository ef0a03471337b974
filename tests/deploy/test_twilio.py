"""Twilio can be chosen where the suite is deployed: compose passes notify and crisis the
`SMS_PROVIDER` and `TWILIO_*` variables (each service its own public URL), webhook by default;
the Kubernetes Deployments take the auth token (and notify's API key secret) from their
optional Secrets."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from crisis.settings import CrisisSettings
from notify.settings import NotifySettings
from tests.deploy.support import (
    DEPLOY,
    ROOT,
    environment_of,
    interpolate_tree,
    load_yaml,
    render_kustomization,
)

OPERATOR = {
    "SMS_PROVIDER": "twilio",
    "TWILIO_ACCOUNT_SID": "AC0123",
    "TWILIO_AUTH_TOKEN": "token-from-the-operator",
    "TWILIO_FROM": "+15005550006",
    "NOTIFY_TWILIO_WEBHOOK_BASE_URL": "https://sms.center.example/notify",
    "CRISIS_TWILIO_WEBHOOK_BASE_URL": "https://sms.center.example/crisis",
}


def _compose(service: str, env: dict[str, str]) -> dict[str, str]:
    compose = interpolate_tree(copy.deepcopy(load_yaml(ROOT / "docker-compose.yml")), env)
    return environment_of(compose["services"][service]) | {
        "DATABASE_URL": f"postgresql://x@h/{service}"
    }


def test_compose_keeps_the_webhook_provider_by_default() -> None:
    assert NotifySettings.model_validate(_compose("notify", {})).sms_provider == "webhook"
    assert CrisisSettings.model_validate(_compose("crisis", {})).sms_provider == "webhook"


def test_compose_passes_twilio_through_to_both_services() -> None:
    notify = NotifySettings.model_validate(_compose("notify", OPERATOR))
    crisis = CrisisSettings.model_validate(_compose("crisis", OPERATOR))

    assert notify.twilio_basic_auth() == ("AC0123", "token-from-the-operator")
    assert notify.twilio_webhook_base_url == "https://sms.center.example/notify"
    assert (crisis.sms_provider, crisis.twilio_token()) == ("twilio", "token-from-the-operator")
    assert crisis.twilio_webhook_base_url == "https://sms.center.example/crisis"


@pytest.mark.parametrize(
    ("notify_provider", "crisis_provider"), [("webhook", "twilio"), ("twilio", "webhook")]
)
def test_compose_lets_crisis_take_replies_through_another_provider_than_notify_sends_with(
    notify_provider: str, crisis_provider: str
) -> None:
    # Clients texted through a webhook adapter, staff's replies from a Twilio number (or the
    # reverse): crisis's own variables win over notify's.
    env = OPERATOR | {
        "SMS_PROVIDER": notify_provider,
        "CRISIS_SMS_PROVIDER": crisis_provider,
        "CRISIS_TWILIO_AUTH_TOKEN": "crisis-own-token",
    }
    notify = NotifySettings.model_validate(_compose("notify", env))
    crisis = CrisisSettings.model_validate(_compose("crisis", env))

    assert (notify.sms_provider, crisis.sms_provider) == (notify_provider, crisis_provider)
    assert crisis.twilio_token() == "crisis-own-token"
    assert notify.twilio_token() == "token-from-the-operator"


def test_compose_places_page_calls_only_when_asked_and_points_them_at_crisis() -> None:
    assert NotifySettings.model_validate(_compose("notify", OPERATOR)).page_calls is False
    notify = NotifySettings.model_validate(_compose("notify", {**OPERATOR, "PAGE_CALLS": "true"}))

    assert notify.page_calls is True
    # Twilio asks crisis what to say: crisis's public URL, not notify's.
    assert notify.page_call_url == "https://sms.center.example/crisis"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_deployments_take_the_twilio_secrets_from_optional_secrets(overlay: str) -> None:
    manifests = render_kustomization(DEPLOY / "k8s/overlays" / overlay)

    def env_of(name: str) -> dict[str, Any]:
        (deployment,) = [
            m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == name
        ]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e for e in container.get("env", [])}

    notify, crisis = env_of("notify"), env_of("crisis")
    for key in ("TWILIO_AUTH_TOKEN", "TWILIO_API_KEY_SECRET"):
        ref = notify[key]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "counseling-notify-providers", "key": key, "optional": True}
    ref = crisis["TWILIO_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {
        "name": "counseling-crisis-inbound-sms",
        "key": "TWILIO_AUTH_TOKEN",
        "optional": True,
    }
