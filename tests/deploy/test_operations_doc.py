"""docs/operations.md keeps up with what it documents."""

from __future__ import annotations

import re

import pytest

from tests.deploy.support import DEPLOY, ROOT, load_yaml, load_yaml_documents

OPERATIONS = ROOT / "docs/operations.md"


def _text() -> str:
    return OPERATIONS.read_text()


def test_every_alert_has_a_runbook_entry() -> None:
    alerts = [
        rule["alert"]
        for group in load_yaml(DEPLOY / "prometheus/alerts.yaml")["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    rows = set(re.findall(r"^\| `(\w+)` \|", _text(), re.M))
    assert set(alerts) <= rows, f"no runbook row for {sorted(set(alerts) - rows)}"


@pytest.mark.parametrize(
    "heading",
    [
        "Install with docker compose",
        "Install on Kubernetes",
        "Secrets to create",
        "Scale",
        "Upgrade",
        "Back up and restore",
        "What to watch",
        "Dead letters",
    ],
)
def test_the_guide_covers(heading: str) -> None:
    assert re.search(rf"^#+ {re.escape(heading)}$", _text(), re.M)


def test_the_dead_letter_procedure_names_the_table_and_the_stream() -> None:
    text = _text()
    for needle in ("`dead_letters`", "`dlq.>`", "`dlq.<service>.<consumer>`", "redriven_at"):
        assert needle in text


def test_the_compose_variables_it_lists_are_the_ones_compose_reads() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    read = set(re.findall(r"\$\{(\w+)", compose))
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", _text()))
    undocumented = sorted(read - listed)
    assert not undocumented, f"docs/operations.md does not mention {undocumented}"


def _section(heading: str) -> str:
    text = _text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_upgrade_deletes_the_streams_job_before_applying() -> None:
    # A Job's pod template is immutable: applying a new image or ConfigMap hash over the
    # previous Job fails, and an unchanged one does not run again.
    job = next(
        m
        for m in load_yaml_documents((DEPLOY / "k8s/base/streams-job.yaml").read_text())
        if m["kind"] == "Job"
    )
    name = job["metadata"]["name"]
    upgrade = _section("Upgrade")
    delete = upgrade.index(f"delete job {name} --ignore-not-found")
    assert delete < upgrade.index("kubectl apply -k deploy/k8s/overlays/")
    assert "on every apply" not in (DEPLOY / "k8s/base/streams-job.yaml").read_text()


def test_kubernetes_commands_say_which_namespace_the_dev_overlay_uses() -> None:
    dev = load_yaml(DEPLOY / "k8s/overlays/dev/kustomization.yaml")["namespace"]
    install = _section("Install on Kubernetes")
    assert f"-n {dev}" in install, "the dev namespace for helm and kubectl"
