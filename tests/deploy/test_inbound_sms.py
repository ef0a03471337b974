"""Staff's SMS replies (`ACK <code>`) can be switched on where the suite is deployed: compose and
the Kubernetes manifests pass crisis an `INBOUND_SMS_SECRET` (optional: without it
`POST /inbound/sms` answers 503), and docs/operations.md says where to set it."""

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

VARIABLE = "INBOUND_SMS_SECRET"
SECRET_NAME = "counseling-crisis-inbound-sms"  # noqa: S105 - a Secret's name


def _compose_crisis(env: dict[str, str]) -> dict[str, str]:
    compose = interpolate_tree(copy.deepcopy(load_yaml(ROOT / "docker-compose.yml")), env)
    return environment_of(compose["services"]["crisis"])


def test_compose_passes_the_secret_through_and_leaves_it_empty_by_default() -> None:
    assert _compose_crisis({})[VARIABLE] == ""
    given = _compose_crisis({VARIABLE: "from-the-operator"})
    assert given[VARIABLE] == "from-the-operator"
    settings = CrisisSettings.model_validate(given | {"DATABASE_URL": "postgresql://x@h/crisis"})
    assert settings.inbound_sms_secret.get_secret_value() == "from-the-operator"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_crisis_deployment_takes_it_from_an_optional_secret(overlay: str) -> None:
    manifests = render_kustomization(DEPLOY / "k8s/overlays" / overlay)
    (crisis,) = [
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "crisis"
    ]
    (container,) = crisis["spec"]["template"]["spec"]["containers"]
    env: dict[str, Any] = {e["name"]: e for e in container.get("env", [])}
    ref = env[VARIABLE]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": SECRET_NAME, "key": VARIABLE, "optional": True}


def test_the_operations_guide_says_where_to_set_it() -> None:
    guide = (ROOT / "docs/operations.md").read_text()
    compose_row = next(line for line in guide.splitlines() if line.startswith(f"| `{VARIABLE}`"))
    assert "503" in compose_row
    secret_row = next(line for line in guide.splitlines() if line.startswith(f"| `{SECRET_NAME}`"))
    assert f"`{VARIABLE}`" in secret_row
    assert f"create secret generic {SECRET_NAME}" in guide


# notify's own webhook for clients' texts (STOP, START, HELP) and its providers' credentials.


def _compose_notify(env: dict[str, str]) -> dict[str, str]:
    compose = interpolate_tree(copy.deepcopy(load_yaml(ROOT / "docker-compose.yml")), env)
    return environment_of(compose["services"]["notify"])


def test_compose_gives_notify_its_own_inbound_secret_and_provider_credentials() -> None:
    defaults = _compose_notify({})
    assert defaults[VARIABLE] == ""
    assert defaults["SMS_WEBHOOK_AUTH"] == ""
    assert defaults["SMS_WEBHOOK_AUTH_HEADER"] == "Authorization"
    given = _compose_notify(
        {"NOTIFY_INBOUND_SMS_SECRET": "notify-own", "SMS_WEBHOOK_AUTH": "Bearer t"}
    )
    settings = NotifySettings.model_validate(given | {"DATABASE_URL": "postgresql://x@h/notify"})
    assert settings.inbound_sms_secret.get_secret_value() == "notify-own"
    auth = settings.provider_auth("sms")
    assert auth is not None
    assert (auth.header, auth.value) == ("Authorization", "Bearer t")
    assert settings.provider_auth("messaging") is None  # empty is unset


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_notify_deployment_takes_them_from_its_providers_secret(overlay: str) -> None:
    manifests = render_kustomization(DEPLOY / "k8s/overlays" / overlay)
    (notify,) = [
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "notify"
    ]
    (container,) = notify["spec"]["template"]["spec"]["containers"]
    env: dict[str, Any] = {e["name"]: e for e in container.get("env", [])}
    for name in (VARIABLE, "SMS_WEBHOOK_AUTH", "MESSAGING_FALLBACK_WEBHOOK_AUTH"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "counseling-notify-providers", "key": name, "optional": True}
