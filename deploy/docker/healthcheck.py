#!/usr/bin/env python3
"""Container health check: exit 0 when the service's `/readyz` answers 200, else 1.

Usage: `healthcheck [URL]`. Without a URL it checks `http://127.0.0.1:<port>/readyz`, where the
service is `$SERVICE` or the one named on the container's main command line (`booking`,
`python -m notify`, ...) and the port is `<SERVICE>_PORT` or the service's default. Standard
library only: the slim image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_PORTS = {"booking": 8001, "followup": 8002, "notify": 8003, "crisis": 8004}
TIMEOUT_SECONDS = 2.0


def service_in(command: Sequence[str]) -> str | None:
    """The first argument of a command line that names one of the services."""
    for argument in command:
        name = Path(argument).name
        if name in DEFAULT_PORTS:
            return name
    return None


def main_command() -> list[str]:
    """The container's main process command line (PID 1)."""
    try:
        raw = Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def readyz_url(env: Mapping[str, str], command: Sequence[str]) -> str:
    service = env.get("SERVICE") or service_in(command)
    if service is None or service not in DEFAULT_PORTS:
        raise LookupError(f"cannot tell which service runs here (SERVICE={service!r})")
    port = env.get(f"{service.upper()}_PORT") or str(DEFAULT_PORTS[service])
    if not port.isdigit():
        raise LookupError(f"{service.upper()}_PORT is not a port number: {port!r}")
    return f"http://127.0.0.1:{int(port)}/readyz"


def is_ready(url: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (our own URL)
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        # 503 (not ready) arrives as HTTPError, a subclass of URLError.
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        url = args[0] if args else readyz_url(os.environ, main_command())
    except LookupError as error:
        print(f"healthcheck: {error}", file=sys.stderr)
        return 1
    ready = is_ready(url)
    if not ready:
        print(f"healthcheck: {url} is not ready", file=sys.stderr)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
