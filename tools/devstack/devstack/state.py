"""`<var>/devstack.json`: where a running `make run` stack is, for counselctl and other tools.

Written once every service is ready, removed when the stack stops. The format (version 1):

    {
      "format": 1,
      "nats": {"url": "nats://127.0.0.1:4222", "monitor_url": "http://127.0.0.1:8222",
               "credentials": null},
      "databases": {"booking": "postgresql://postgres@127.0.0.1:5432/booking", ...},
      "services": {"booking": "http://127.0.0.1:8001", ...},
      "api_key": "dev-admin-key"
    }

`nats.credentials` is the path of an operator credentials file once the stack has one (null
until then); `api_key` is null unless the stack runs with the development key.
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATE_FILE = "devstack.json"
FORMAT = 1


def state_document(
    *,
    nats_url: str,
    nats_monitor_url: str | None,
    databases: Mapping[str, str],
    services: Mapping[str, str],
    api_key: str | None,
    nats_credentials: str | None = None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "nats": {"url": nats_url, "monitor_url": nats_monitor_url, "credentials": nats_credentials},
        "databases": dict(databases),
        "services": dict(services),
        "api_key": api_key,
    }


def write_state(var_dir: Path, document: Mapping[str, Any]) -> Path:
    """Written whole, then renamed, so a reader never sees half a file. Only the owner may read
    it (it may name credentials)."""
    path = var_dir / STATE_FILE
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.chmod(partial, 0o600)
    partial.replace(path)
    return path


def remove_state(var_dir: Path) -> None:
    (var_dir / STATE_FILE).unlink(missing_ok=True)
