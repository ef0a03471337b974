"""Twilio can be chosen where the suite is deployed: compose passes notify and crisis the
`SMS_PROVIDER` and `TWILIO_*` variables (each service its own public URL), webhook by default;
the Kubernetes Deployments take the auth token (and notify's API key secret) from their
optional Secrets."""

from __future__ import annotations

import copy
import os
from pathlib import Path
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


def _overlay_with(tmp_path: Path, overlay: str, components: list[str], config: str) -> Any:
    """An operator's overlay: `overlay` plus `components`, with `config` (kustomize lines)."""
    k8s = os.path.relpath(DEPLOY / "k8s", tmp_path)
    listed = ", ".join(f"{k8s}/components/{c}" for c in components)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{k8s}/overlays/{overlay}]\ncomponents: [{listed}]\n{config}"
    )
    return render_kustomization(tmp_path)


def _deployment_env(manifests: Any, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The Deployment's `env` entries by name, and its ConfigMaps' values."""
    (deployment,) = [
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == name
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    config: dict[str, str] = {}
    for source in container["envFrom"]:
        (configmap,) = [
            m
            for m in manifests
            if m["kind"] == "ConfigMap" and m["metadata"]["name"] == source["configMapRef"]["name"]
        ]
        config |= configmap.get("data", {})
    return {e["name"]: e for e in container.get("env", [])}, config


def _settings_input(env: dict[str, Any], config: dict[str, str]) -> dict[str, str]:
    """What the service reads when only the Secret keys it requires exist (placeholders)."""
    required = {
        n: e.get("value", "from-a-secret")
        for n, e in env.items()
        if not e.get("valueFrom", {}).get("secretKeyRef", {}).get("optional")
    }
    return config | required


NOTIFY_TWILIO_CONFIG = """configMapGenerator:
  - name: notify-config
    behavior: merge
    literals:
      - TWILIO_ACCOUNT_SID=AC0123
      - TWILIO_FROM=+15005550006
      - TWILIO_WEBHOOK_BASE_URL=https://sms.center.example/notify
"""

CRISIS_TWILIO_CONFIG = """configMapGenerator:
  - name: crisis-config
    behavior: merge
    literals:
      - TWILIO_WEBHOOK_BASE_URL=https://sms.center.example/crisis
"""


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_with_twilio_notify_requires_its_token_and_no_sms_webhook_url(
    overlay: str, tmp_path: Path
) -> None:
    manifests = _overlay_with(tmp_path, overlay, ["notify-twilio"], NOTIFY_TWILIO_CONFIG)
    env, config = _deployment_env(manifests, "notify")

    assert "SMS_WEBHOOK_URL" not in env, "unused with Twilio: no Secret key to keep for it"
    assert env["TWILIO_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "counseling-notify-providers",
        "key": "TWILIO_AUTH_TOKEN",
        "optional": False,
    }
    notify = NotifySettings.model_validate(_settings_input(env, config))
    assert (notify.sms_provider, notify.twilio_account_sid) == ("twilio", "AC0123")
    # crisis keeps its own provider (the webhook) unless its component is listed too.
    crisis_env, crisis_config = _deployment_env(manifests, "crisis")
    assert crisis_config["SMS_PROVIDER"] == "webhook"
    assert crisis_env["TWILIO_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_crisis_takes_replies_from_twilio_while_notify_keeps_its_webhook(
    overlay: str, tmp_path: Path
) -> None:
    manifests = _overlay_with(tmp_path, overlay, ["crisis-twilio"], CRISIS_TWILIO_CONFIG)
    env, config = _deployment_env(manifests, "crisis")

    assert env["TWILIO_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "counseling-crisis-inbound-sms",
        "key": "TWILIO_AUTH_TOKEN",
        "optional": False,
    }
    crisis = CrisisSettings.model_validate(_settings_input(env, config))
    assert crisis.sms_provider == "twilio"
    notify_env, notify_config = _deployment_env(manifests, "notify")
    assert notify_config["SMS_PROVIDER"] == "webhook"
    assert "optional" not in notify_env["SMS_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"]


def test_without_a_component_the_webhook_url_is_required_and_the_token_optional() -> None:
    # A plain regression guard: the base stays the webhook provider's.
    env, config = _deployment_env(render_kustomization(DEPLOY / "k8s/overlays/prod"), "notify")
    assert config["SMS_PROVIDER"] == "webhook"
    assert "optional" not in env["SMS_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"]
    assert env["TWILIO_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True


WHATSAPP_CONTENT = ROOT / "deploy" / "whatsapp" / "content.example.json"


def test_compose_passes_whatsapp_through_to_notify() -> None:
    env = {
        **OPERATOR,
        "MESSAGING_PROVIDER": "twilio",
        "TWILIO_WHATSAPP_FROM": "+15005550007",
        "TWILIO_WHATSAPP_CONTENT": WHATSAPP_CONTENT.read_text(encoding="utf-8"),
    }
    assert NotifySettings.model_validate(_compose("notify", {})).messaging_provider == "webhook"

    notify = NotifySettings.model_validate(_compose("notify", env))

    assert notify.messaging_provider == "twilio"
    assert notify.whatsapp_sender() == {"From": "whatsapp:+15005550007"}
    assert notify.whatsapp_content().candidates("appointment_booked", "ru")


NOTIFY_WHATSAPP_CONFIG = """namespace: counseling
configMapGenerator:
  - name: notify-config
    behavior: merge
    literals:
      - TWILIO_ACCOUNT_SID=AC0123
      - TWILIO_FROM=+15005550006
      - TWILIO_WHATSAPP_FROM=+15005550007
      - TWILIO_WEBHOOK_BASE_URL=https://sms.center.example/notify
  - name: notify-whatsapp-content
    files: [content.json]
"""


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_whatsapp_component_mounts_the_mapping_and_drops_the_messaging_webhook(
    overlay: str, tmp_path: Path
) -> None:
    (tmp_path / "content.json").write_text(WHATSAPP_CONTENT.read_text(encoding="utf-8"))
    components = ["notify-twilio", "notify-twilio/whatsapp"]
    manifests = _overlay_with(tmp_path, overlay, components, NOTIFY_WHATSAPP_CONFIG)
    env, config = _deployment_env(manifests, "notify")

    assert "MESSAGING_WEBHOOK_URL" not in env, "unused with WhatsApp by Twilio"
    assert env["TWILIO_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is False
    (deployment,) = [
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "notify"
    ]
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "whatsapp-content"]
    (mapping,) = [
        m
        for m in manifests
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == volume["configMap"]["name"]
    ]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "whatsapp-content"]
    assert config["TWILIO_WHATSAPP_CONTENT"] == f"{mount['mountPath']}/content.json"
    # What notify reads there: the mounted file, here written out.
    mounted = tmp_path / "mounted.json"
    mounted.write_text(mapping["data"]["content.json"], encoding="utf-8")
    values = _settings_input(env, config) | {"TWILIO_WHATSAPP_CONTENT": str(mounted)}
    notify = NotifySettings.model_validate(values)
    assert (notify.sms_provider, notify.messaging_provider) == ("twilio", "twilio")
    assert notify.whatsapp_content().candidates("followup_due_reminder", "ko")
