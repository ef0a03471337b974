"""PostgreSQL's own limit for single-row inserts, from pgbench on the same server.

Each pgbench transaction inserts one row (a uuid, a timestamp and a small jsonb) and commits:
the least a booking must do. Run with as many clients as booking has requests in flight.
"""

import asyncio
import re
import tempfile
from pathlib import Path

from counseling_shared.db import connect
from devstack.postgres import drop_database, ensure_database, postgres_bin_dir, with_database

SCRIPT = "INSERT INTO bench_rows (id, at, data) VALUES (gen_random_uuid(), now(), '{\"n\": 1}');\n"
_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


async def single_row_inserts(server_url: str, clients: int, seconds: float) -> float:
    """Transactions per second, each one single-row INSERT and its commit."""
    name = "bench_pgbench"
    await ensure_database(server_url, name)
    dsn = with_database(server_url, name)
    try:
        conn = await connect(dsn)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_rows (id uuid PRIMARY KEY, at timestamptz,"
                " data jsonb)"
            )
        finally:
            await conn.close()
        with tempfile.TemporaryDirectory(prefix="pgbench-") as scratch:
            script = Path(scratch) / "insert.sql"
            script.write_text(SCRIPT)
            process = await asyncio.create_subprocess_exec(
                str(postgres_bin_dir() / "pgbench"),
                "--no-vacuum",
                f"--client={clients}",
                "--jobs=2",
                f"--time={max(1, round(seconds))}",
                f"--file={script}",
                dsn,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
        found = _TPS.search(out.decode())
        if process.returncode != 0 or found is None:
            raise RuntimeError(f"pgbench failed: {err.decode()[-500:]}")
        return float(found.group(1))
    finally:
        await drop_database(server_url, name)
