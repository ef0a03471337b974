"""Running counselctl as operators do: the installed console script, in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from booking.bootstrap import MIGRATIONS as BOOKING_MIGRATIONS
from crisis.bootstrap import MIGRATIONS as CRISIS_MIGRATIONS
from followup.bootstrap import MIGRATIONS as FOLLOWUP_MIGRATIONS
from notify.bootstrap import MIGRATIONS as NOTIFY_MIGRATIONS

COUNSELCTL = Path(sys.executable).with_name("counselctl")
# Each service's migrations, for a test that gives every service a schema of one database.
SCHEMAS: dict[str, Path] = {
    "booking": BOOKING_MIGRATIONS,
    "followup": FOLLOWUP_MIGRATIONS,
    "notify": NOTIFY_MIGRATIONS,
    "crisis": CRISIS_MIGRATIONS,
}
# Settings the command could otherwise pick up from the machine: tests name every server.
_AMBIENT = ("NATS_URL", "DATABASE_URL", "DATABASE_SCHEMA", "COUNSELCTL_API_KEY")


@dataclass(frozen=True)
class Answer:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self
        return json.loads(self.stdout)


async def counselctl(*args: str, timeout: float = 60.0) -> Answer:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _AMBIENT and not k.endswith(("_DATABASE_URL", "_DATABASE_SCHEMA"))
    }
    process = await asyncio.create_subprocess_exec(
        str(COUNSELCTL),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Answer(process.returncode, out.decode(), err.decode())
