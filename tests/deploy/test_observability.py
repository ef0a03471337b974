"""The Grafana dashboard and the Prometheus rules: well-formed, and reading only metrics that
exist (defined in the code, or exported by the NATS exporter the Helm values enable)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

from tests.deploy.support import (
    DEPLOY,
    ROOT,
    defined_metric_series,
    exposed_series,
    load_yaml,
    promql_metric_names,
    service_settings_class,
    venv_tool,
)

ALERTS = DEPLOY / "prometheus/alerts.yaml"
RULE_TESTS = ROOT / "tests/deploy/promtool"
DASHBOARD = DEPLOY / "grafana/dashboard.json"

# Series that come from outside our code, and what makes them exist.
EXTERNAL_SERIES = {
    # prometheus-nats-exporter with -jsz=all -prefix=nats, the NATS Helm chart's promExporter
    # (deploy/nats/helm-values.yaml; checked in test_nats_config.py).
    "nats_consumer_num_pending": "NATS exporter",
    "nats_consumer_num_ack_pending": "NATS exporter",
    "nats_consumer_num_redelivered": "NATS exporter",
}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
SEVERITIES = {"page", "ticket"}
# What the operators asked to be alerted about, by the alert that covers it.
REQUIRED_ALERTS = {
    "CrisisPageNotSent": "a page not sent within 30 s",
    "CrisisPageSentLate": "a page sent later than 30 s",
    "CrisisEscalationStepOverdue": "an overdue escalation step",
    "CrisisAlertExhausted": "an open alert whose escalation chain ran out (nobody more is paged)",
    "WebhookSubscriptionStuck": "a webhook subscription held back by a refused delivery",
    "DeadLettersGrowing": "a growing dead-letter count",
    "ConsumerLagging": "consumer lag",
    "OutboxRelayStalled": "an outbox relay that stopped publishing (hung, NATS away)",
    "OutboxStreamMissing": "events held back because their stream does not exist",
    "FollowUpSchedulerBehind": "follow-ups past due that the scheduler has not fired",
    "ClientsAdriftPastContactGap": "clients in care drifting past the contact gap",
}
# What the dashboard must show, by a series that shows it.
REQUIRED_PANELS = {
    "messages_consumed_total": "consumed messages per consumer",
    "messages_failed_total": "failed messages per consumer",
    "handler_duration_seconds_bucket": "handler latency histograms",
    "outbox_backlog": "outbox backlog",
    "outbox_relay_lag_seconds": "relay lag",
    "crisis_overdue_escalation_steps": "scheduler backlog (escalation deadlines)",
    "followup_scheduled": "scheduler backlog (follow-ups scheduled)",
    "followup_due_open": "follow-ups due and not completed",
    "followup_overdue": "scheduler backlog (follow-ups overdue)",
    "followup_due_delay_seconds_bucket": "FollowUpDue delay after due_at",
    "crisis_pages_unsent": "pages not sent within 30 s",
    "crisis_page_latency_seconds_bucket": "page latency",
    "dead_letters_total": "dead letters",
    "followup_clients_past_contact_gap": "clients past the contact gap, per site",
    "followup_clients_in_cooloff": "clients in a cool-off, per site",
    "crisis_staff_phone_digests": "staff phone digests by signing key (key rotation)",
    "notify_webhook_attempts_total": "webhook attempts by outcome",
    "notify_webhook_oldest_pending_seconds": "webhook subscriptions held back (oldest pending)",
    "notify_webhook_subscriptions": "webhook subscriptions disabled",
}


def _rules() -> list[dict[str, Any]]:
    document = load_yaml(ALERTS)
    assert isinstance(document, dict)
    assert set(document) == {"groups"}
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    return rules


def _dashboard() -> dict[str, Any]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert isinstance(dashboard, dict)
    return dashboard


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    queries = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            # label_values(metric, label): only the first argument is a metric.
            match = re.fullmatch(r"label_values\(\s*([^,]+),\s*\w+\s*\)", text)
            queries.append(match.group(1) if match else text)
    return queries


def _known_series() -> set[str]:
    return set(defined_metric_series()) | set(EXTERNAL_SERIES)


def test_metric_names_are_read_from_promql_and_not_from_its_syntax() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, consumer) (rate(handler_duration_seconds_bucket"
        '{consumer=~"$consumer", le!="+Inf"}[$__rate_interval]))) > 0.5 and on (consumer)'
        " (sum(increase(dead_letters_total[5m] offset 1m)) or vector(0))"
    )
    assert promql_metric_names(expr) == {"handler_duration_seconds_bucket", "dead_letters_total"}


def test_the_code_defines_the_backbone_metrics() -> None:
    series = defined_metric_series()
    assert {"messages_consumed_total", "handler_duration_seconds_bucket", "outbox_backlog"} <= set(
        series
    )
    assert exposed_series("Counter", "dead_letters_total") >= {"dead_letters_total"}
    assert exposed_series("Counter", "answers") >= {"answers_total"}


def test_the_rules_file_is_well_formed() -> None:
    document = load_yaml(ALERTS)
    group_names = [group["name"] for group in document["groups"]]
    assert len(group_names) == len(set(group_names)), "group names are unique"
    alert_names = []
    for group in document["groups"]:
        assert group["rules"], f"group {group['name']} has rules"
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations"}
            assert ("alert" in rule) != ("record" in rule)
            expr = rule["expr"]
            assert isinstance(expr, str)
            assert expr.strip()
            assert expr.count("(") == expr.count(")")
            assert expr.count("{") == expr.count("}")
            if "for" in rule:
                assert DURATION.match(str(rule["for"])), rule["for"]
            if "alert" in rule:
                alert_names.append(rule["alert"])
                assert rule["labels"]["severity"] in SEVERITIES
                assert {"summary", "description"} <= set(rule["annotations"])
    assert len(alert_names) == len(set(alert_names)), "alert names are unique"


def test_the_requested_alerts_exist() -> None:
    names = {rule.get("alert") for rule in _rules()}
    missing = {name: why for name, why in REQUIRED_ALERTS.items() if name not in names}
    assert not missing


def test_the_page_alerts_use_the_30_second_limit() -> None:
    rules = {rule.get("alert"): rule for rule in _rules()}
    assert 'le=~"30|30.0"' in rules["CrisisPageSentLate"]["expr"]
    not_sent = rules["CrisisPageNotSent"]
    assert promql_metric_names(not_sent["expr"]) == {"crisis_pages_unsent"}
    # crisis counts a page as unsent once it is 30 s old: a `for:` would add to the 30 s.
    assert "for" not in not_sent
    crisis_settings = service_settings_class("crisis")
    assert crisis_settings.model_fields["page_unsent_after"].default == 30


def test_bucket_matchers_match_how_either_prometheus_spells_le() -> None:
    # prometheus_client writes le="30.0"; Prometheus 3 stores it as le="30", Prometheus 2 as
    # written: an exact le="30" (or "30.0") selects nothing on one of them.
    queries = [rule["expr"] for rule in _rules()] + _dashboard_queries(_dashboard())
    exact = [q for q in queries if re.search(r'\ble\s*=\s*"[0-9.]+"', q)]
    assert not exact


def test_every_metric_the_rules_read_exists() -> None:
    known = _known_series()
    for rule in _rules():
        names = promql_metric_names(rule["expr"])
        assert names, f"{rule.get('alert')} reads some metric"
        unknown = names - known
        assert not unknown, f"{rule.get('alert') or rule.get('record')} reads unknown {unknown}"


def test_every_metric_the_dashboard_reads_exists() -> None:
    known = _known_series()
    for query in _dashboard_queries(_dashboard()):
        unknown = promql_metric_names(query) - known
        assert not unknown, f"dashboard query {query!r} reads unknown {unknown}"


def test_the_dashboard_shows_what_operators_asked_for() -> None:
    used = set().union(*(promql_metric_names(q) for q in _dashboard_queries(_dashboard())))
    missing = {series: what for series, what in REQUIRED_PANELS.items() if series not in used}
    assert not missing


def test_the_dashboard_is_importable() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"]
    assert dashboard["title"]
    panels = list(_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert "datasource" in variables
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"], panel["title"]
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids))


def test_no_two_panels_overlap() -> None:
    # Grafana would push an overlapping panel down on import, away from its row.
    taken: dict[tuple[int, int], str] = {}
    for panel in _panels(_dashboard()):
        grid = panel["gridPos"]
        for y in range(grid["y"], grid["y"] + grid["h"]):
            for x in range(grid["x"], grid["x"] + grid["w"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[x, y]}"
                taken[x, y] = panel["title"]


def test_promtool_accepts_the_rules() -> None:
    # No PyPI wheel ships promtool: Debian's `prometheus` package does (.ci/run installs it).
    promtool = venv_tool("promtool")
    assert promtool is not None, "promtool is missing: apt-get install -y prometheus"
    result = subprocess.run(
        [str(promtool), "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_tests_pass() -> None:
    # `promtool test rules`: series in, alerts out (tests/deploy/promtool/*.yaml).
    promtool = venv_tool("promtool")
    assert promtool is not None, "promtool is missing: apt-get install -y prometheus"
    files = sorted(RULE_TESTS.glob("*.yaml"))
    assert files
    result = subprocess.run(
        [str(promtool), "test", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_exhausted_alert_reads_the_gauge_once_for_all_replicas() -> None:
    rule = next(r for r in _rules() if r.get("alert") == "CrisisAlertExhausted")
    assert promql_metric_names(rule["expr"]) == {"crisis_open_exhausted_alerts"}
    assert rule["expr"].strip().startswith("max(")  # every replica reports the same count
    assert rule["labels"]["severity"] == "page"


def test_the_stuck_webhook_alert_reads_the_gauge_once_for_all_replicas() -> None:
    rule = next(r for r in _rules() if r.get("alert") == "WebhookSubscriptionStuck")
    assert promql_metric_names(rule["expr"]) == {"notify_webhook_oldest_pending_seconds"}
    # Every replica reports the same age, read from the database: one alert per subscription.
    assert rule["expr"].strip().startswith("max by (subscription_id) (")
    assert rule["labels"]["severity"] == "ticket"
