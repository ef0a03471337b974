"""docker-compose.yml: valid Compose, and every service wired to what its settings need."""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.deploy.support import (
    DEPLOY,
    ROOT,
    SERVICES,
    ServiceConfig,
    container_ports,
    environment_of,
    interpolate,
    interpolate_tree,
    load_yaml,
    service_configs,
    unread_variables,
)

# Vendored from the check-jsonschema wheel (builtin_schemas/vendor/compose-spec.json, Apache-2.0);
# see schemas/README.md.
SCHEMA_PATH = ROOT / "tests/deploy/schemas/compose-spec.json"


@functools.cache
def _raw() -> dict[str, Any]:
    compose = load_yaml(ROOT / "docker-compose.yml")
    assert isinstance(compose, dict)
    return compose


def _compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The file as Compose sees it with this environment (defaults when empty)."""
    resolved = interpolate_tree(copy.deepcopy(_raw()), env or {})
    assert isinstance(resolved, dict)
    return resolved


def _service(name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    service = _compose(env)["services"][name]
    assert isinstance(service, dict)
    return service


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _init_script_databases() -> dict[str, str]:
    """Database name -> the environment variable holding its role's password."""
    script = (DEPLOY / "postgres/init-databases.sh").read_text()
    pairs = re.findall(r'^create_service_database\s+(\w+)\s+"\$(\w+)"', script, re.M)
    return dict(pairs)


def test_the_file_is_valid_against_the_compose_specification() -> None:
    errors = sorted(_validator().iter_errors(_compose()), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_misspelt_key() -> None:
    broken = _compose()
    broken["services"]["booking"]["helthcheck"] = broken["services"]["booking"]["healthcheck"]
    assert any(True for _ in _validator().iter_errors(broken))


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_each_service_is_built_from_the_dockerfile_and_runs_itself(config: ServiceConfig) -> None:
    service = _service(config.name)
    assert service["build"]["context"] == "."
    assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    assert service["command"] == [config.name]
    assert not service.get("profiles"), "the services run without any profile"


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_every_setting_without_a_container_safe_default_is_provided(config: ServiceConfig) -> None:
    env = environment_of(_service(config.name))
    missing = sorted(n for n in config.required_in_container() if not env.get(n))
    assert not missing, f"{config.name} needs {missing} in docker-compose.yml"
    settings = config.settings.model_validate(env)
    assert settings.host == "0.0.0.0"  # noqa: S104 - the value under test
    assert settings.port == config.default_port


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_every_variable_a_service_is_given_is_one_its_settings_read(config: ServiceConfig) -> None:
    unread = unread_variables(config.settings, environment_of(_service(config.name)))
    assert not unread, f"{config.name} is given {unread}, which no setting of it reads"


def test_the_unread_check_sees_a_misspelt_variable_and_allows_substitutions() -> None:
    crisis = next(c for c in service_configs() if c.name == "crisis")
    env = {
        "CRISIS_PORT": "8004",
        "INBOUND_SMS_SECRETS": "x",
        "DB_USER": "crisis",
        "DATABASE_URL": "postgresql://$(DB_USER)@db/crisis",
    }
    assert unread_variables(crisis.settings, env) == ["INBOUND_SMS_SECRETS"]


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_the_published_port_is_the_services_port(config: ServiceConfig) -> None:
    service = _service(config.name)
    assert environment_of(service)[config.port_variable] == str(config.default_port)
    assert container_ports(service) == {config.default_port}


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_the_health_check_asks_readyz_on_the_services_port(config: ServiceConfig) -> None:
    test = _service(config.name)["healthcheck"]["test"]
    assert test[0] == "CMD"
    url = next(word for word in test if word.startswith("http"))
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, parts.path) == ("127.0.0.1", config.default_port, "/readyz")


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_each_service_waits_for_healthy_nats_and_postgres(config: ServiceConfig) -> None:
    depends = _service(config.name)["depends_on"]
    for server in ("nats", "postgres"):
        assert depends[server]["condition"] == "service_healthy"
        assert _service(server).get("healthcheck"), f"{server} has a health check to wait for"


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_each_service_uses_its_own_database_and_role(config: ServiceConfig) -> None:
    databases = _init_script_databases()
    url = urlsplit(environment_of(_service(config.name))["DATABASE_URL"])
    database = url.path.lstrip("/")
    assert database == config.name
    assert database in databases, f"the init script creates {database}"
    assert url.username == database, "connects as the role that owns only this database"
    assert (url.hostname, url.port) == ("postgres", 5432)
    # The password in the URL is the one the init script gives the role, for any value.
    secret = f"s3cret-{config.name}"
    env = environment_of(_service(config.name, {databases[database]: secret}))
    resolved = urlsplit(env["DATABASE_URL"])
    assert resolved.password == secret


def test_the_init_script_creates_one_database_per_service_with_a_password_from_env() -> None:
    databases = _init_script_databases()
    assert set(databases) == set(SERVICES)
    postgres = _service("postgres")
    assert postgres["image"] == "postgres:17"
    env = environment_of(postgres)
    for variable in databases.values():
        assert env.get(variable), f"postgres receives {variable}"
    assert any(
        volume.startswith("./deploy/postgres/init-databases.sh:/docker-entrypoint-initdb.d/")
        for volume in postgres["volumes"]
    )


def test_nats_runs_jetstream_from_the_config_file_with_data_on_a_volume() -> None:
    nats = _service("nats")
    assert nats["image"].startswith("nats:")
    mounts = _mounts(nats)
    assert mounts["./deploy/nats/nats.conf"] == "/etc/nats/nats-server.conf"
    conf = (DEPLOY / "nats/nats.conf").read_text()
    store_dir = re.search(r"store_dir:\s*(\S+)", conf)
    assert store_dir is not None
    assert store_dir.group(1) in mounts.values()
    for config in service_configs():
        url = urlsplit(environment_of(_service(config.name))["NATS_URL"])
        assert (url.hostname, url.port) == ("nats", 4222)


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """source (`bus/<subpath>` for a volume subpath) -> target."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            subpath = volume.get("volume", {}).get("subpath")
            source = f"{volume['source']}/{subpath}" if subpath else volume["source"]
            target = volume["target"]
        found[source] = target
    return found


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_each_service_sees_only_its_own_bus_seed_and_waits_for_the_streams(
    config: ServiceConfig,
) -> None:
    service = _service(config.name)
    bus_mounts = {s: t for s, t in _mounts(service).items() if s.startswith("bus")}
    assert bus_mounts == {f"bus/{config.name}": "/run/bus"}
    assert all(v.get("read_only") for v in service["volumes"] if isinstance(v, dict))
    assert environment_of(service)["NATS_NKEY_SEED_FILE"] == "/run/bus/seed.nk"
    assert service["depends_on"]["streams"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize(
    "env", [{}, {f"{s.upper()}_OWNER_DB_PASSWORD": f"{s}-secret" for s in SERVICES}]
)
def test_the_counselctl_tool_is_the_operator_and_each_databases_owner(env: dict[str, str]) -> None:
    """As the Kubernetes `counselctl` pod: a service's container may neither redrive (its NATS
    user) nor reach the other databases (its roles); the operations guide ran counselctl only
    there (`docker compose exec booking counselctl …`) and said nothing for the rest."""
    tool = _service("counselctl", env)
    assert tool["profiles"] == ["tools"], "never started by `docker compose up`"
    assert tool["entrypoint"] == ["counselctl"]
    assert _mounts(tool) == {"bus/counselctl": "/run/bus"}
    tool_env = environment_of(tool)
    assert tool_env["NATS_NKEY_SEED_FILE"] == "/run/bus/seed.nk"
    assert urlsplit(tool_env["NATS_URL"]).hostname == "nats"
    for service in SERVICES:
        owner_url = environment_of(_service(service, env))["MIGRATION_DATABASE_URL"]
        assert tool_env[f"{service.upper()}_DATABASE_URL"] == owner_url
    read = {"NATS_URL", "NATS_NKEY_SEED_FILE", *(f"{s.upper()}_DATABASE_URL" for s in SERVICES)}
    assert set(tool_env) <= read
    guide = (ROOT / "docs/operations.md").read_text()
    assert "docker compose run --rm counselctl dead-letters" in guide


def test_the_operator_declares_the_streams_and_nats_loads_the_bus_users() -> None:
    streams = _service("streams")
    assert streams["command"] == ["counselctl", "streams", "ensure"]
    assert _mounts(streams) == {"bus/counselctl": "/run/bus"}
    assert _service("bus-config")["volumes"] == ["bus:/bus"]
    nats = _service("nats")
    assert _mounts(nats)["bus/server"] == "/etc/nats/bus"
    assert nats["depends_on"]["bus-config"]["condition"] == "service_completed_successfully"
    assert 'include "bus/auth.conf"' in (DEPLOY / "nats/nats.conf").read_text()


@pytest.mark.parametrize("config", service_configs(), ids=lambda c: c.name)
def test_each_service_migrates_as_its_databases_owner(config: ServiceConfig) -> None:
    env = environment_of(_service(config.name))
    url = urlsplit(env["MIGRATION_DATABASE_URL"])
    assert url.username == f"{config.name}_owner"
    assert url.path == f"/{config.name}"
    secret = "owner-s3cret"  # noqa: S105 (a test value)
    variable = f"{config.name.upper()}_OWNER_DB_PASSWORD"
    resolved = environment_of(_service(config.name, {variable: secret}))
    assert urlsplit(resolved["MIGRATION_DATABASE_URL"]).password == secret
    assert environment_of(_service("postgres")).get(variable)


def test_notify_delivers_to_mailpit_and_the_http_sink() -> None:
    env = environment_of(_service("notify"))
    mailpit = _service("mailpit")
    assert mailpit["image"].startswith("axllent/mailpit:")
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailpit", "1025")
    assert "8025" in " ".join(mailpit["ports"]), "Mailpit's web UI is published"
    sink = _service("sms-sink")
    sink_port = int(environment_of(sink)["HTTP_PORT"])
    for variable in ("SMS_WEBHOOK_URL", "MESSAGING_WEBHOOK_URL"):
        url = urlsplit(env[variable])
        assert (url.hostname, url.port) == ("sms-sink", sink_port)
    depends = _service("notify")["depends_on"]
    assert {"mailpit", "sms-sink", "nats", "postgres"} <= set(depends)


def test_real_providers_replace_the_sinks_through_the_environment() -> None:
    env = environment_of(
        _service("notify", {"SMTP_HOST": "smtp.example.org", "SMS_WEBHOOK_URL": "https://sms"})
    )
    assert env["SMTP_HOST"] == "smtp.example.org"
    assert env["SMS_WEBHOOK_URL"] == "https://sms"


def test_without_the_profile_no_service_exports_traces() -> None:
    for config in service_configs():
        assert environment_of(_service(config.name)).get("OTEL_EXPORTER_OTLP_ENDPOINT") == ""


def test_the_observability_profile_sends_traces_through_the_collector_to_jaeger() -> None:
    profile_env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "otel/observability.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert profile_env["COMPOSE_PROFILES"] == "observability"
    compose = _compose(profile_env)
    collector = compose["services"]["otel-collector"]
    jaeger = compose["services"]["jaeger"]
    assert collector["profiles"] == jaeger["profiles"] == ["observability"]
    assert collector["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert jaeger["image"].startswith("jaegertracing/all-in-one:")
    assert environment_of(jaeger).get("COLLECTOR_OTLP_ENABLED") == "true"

    config_path = next(v.split(":")[1] for v in collector["volumes"] if "collector.yaml" in v)
    assert f"--config={config_path}" in collector["command"]
    config = load_yaml(DEPLOY / "otel/collector.yaml")
    http_port = urlsplit("//" + config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]).port
    for service in SERVICES:
        env = environment_of(compose["services"][service])
        endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert (endpoint.hostname, endpoint.port) == ("otel-collector", http_port)

    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for name in pipeline[kind]:
            assert name in config[kind], f"pipeline uses undefined {kind[:-1]} {name}"
    jaeger_exporters = [n for n in pipeline["exporters"] if n.startswith("otlp")]
    assert jaeger_exporters
    target = urlsplit("//" + config["exporters"][jaeger_exporters[0]]["endpoint"])
    assert (target.hostname, target.port) == ("jaeger", 4317)


def test_interpolation_follows_compose_rules() -> None:
    assert interpolate("${A:-x}", {}) == "x"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("$A and $${A}", {"A": "1"}) == "1 and ${A}"
    assert interpolate("${A:-${B:-x}}", {}) == "x"
    assert interpolate("${A:-${B:-x}}", {"B": "b"}) == "b"
    assert interpolate("${A:-${B:-x}}", {"A": "a", "B": "b"}) == "a"
    with pytest.raises(KeyError):
        interpolate("${A:?set A}", {})
