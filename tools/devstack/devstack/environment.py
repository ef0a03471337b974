"""The environment each service process is started with."""

from collections.abc import Mapping
from pathlib import Path

from counseling_shared.settings import DEV_INBOUND_SMS_SECRET as _DEV_INBOUND_SMS_SECRET
from devstack.postgres import ServiceRoles, with_database, with_role

SERVICES = ("booking", "followup", "notify", "crisis")
DEFAULT_PORTS = {"booking": 8001, "followup": 8002, "notify": 8003, "crisis": 8004}
DEV_API_KEY = "dev-admin-key"
DEV_SMTP_FROM = "counseling@localhost"
# A known secret for texts back (a client's STOP or C/X to notify, a staff member's ACK to
# crisis): the sinks cannot post them, so a developer posts them with curl. Without it a
# reminder by text would not even ask for C or X (nothing would reach notify). The services
# refuse it outside DEVELOPMENT_MODE.
DEV_INBOUND_SMS_SECRET = _DEV_INBOUND_SMS_SECRET


def port_variable(service: str) -> str:
    return f"{service.upper()}_PORT"


def service_ports(base: Mapping[str, str]) -> dict[str, int]:
    """`<SERVICE>_PORT` from the environment, else the contract's defaults."""
    return {
        name: int(base.get(port_variable(name)) or default)
        for name, default in DEFAULT_PORTS.items()
    }


def common_env(
    base: Mapping[str, str],
    *,
    nats_url: str,
    ports: Mapping[str, int],
    sinks: Mapping[str, str],
) -> dict[str, str]:
    """What all four services share: `base` (usually os.environ), plus NATS, the sinks
    (`SMTP_HOST`, `SMTP_PORT`, `SMS_WEBHOOK_URL`, `MESSAGING_WEBHOOK_URL` we started),
    every service's port, and development defaults where nothing was given (the API key,
    `INBOUND_SMS_SECRET`, the public base URLs)."""
    env = dict(base)
    env.update(sinks)
    env["NATS_URL"] = nats_url
    env.setdefault("API_KEYS", DEV_API_KEY)
    env.setdefault("DEVELOPMENT_MODE", "true")  # a development stack: dev-admin-key is allowed
    env.setdefault("SMTP_FROM", DEV_SMTP_FROM)
    env.setdefault("INBOUND_SMS_SECRET", DEV_INBOUND_SMS_SECRET)  # given empty: replies off
    for name, port in ports.items():
        env[port_variable(name)] = str(port)
    env.setdefault("ALERT_BASE_URL", f"http://127.0.0.1:{ports['crisis']}")
    env.setdefault("BOOKING_BASE_URL", f"http://127.0.0.1:{ports['booking']}")
    if "followup" in ports:  # where clients open their answer forms (FollowUpDue.response_url)
        env.setdefault("FOLLOWUP_RESPONSE_BASE_URL", f"http://127.0.0.1:{ports['followup']}")
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the console as they happen
    return env


def service_env(
    common: Mapping[str, str],
    service: str,
    postgres_url: str,
    *,
    roles: ServiceRoles | None = None,
    seed_file: Path | None = None,
) -> dict[str, str]:
    """`common` plus the service's own database on the server behind `postgres_url` and,
    when given, its two database roles (runtime, migrations) and its NATS user's seed file."""
    env = {**common, "DATABASE_URL": with_database(postgres_url, service)}
    if roles is not None:
        database = env["DATABASE_URL"]
        env["DATABASE_URL"] = with_role(database, roles.runtime, roles.password)
        env["MIGRATION_DATABASE_URL"] = with_role(database, roles.owner, roles.password)
    if seed_file is not None:
        env["NATS_NKEY_SEED_FILE"] = str(seed_file)
    return env
