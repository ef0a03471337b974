"""`binary_jsonb`: a binary COPY of jsonb values works meanwhile and gives back the values the
services' text codec writes; the services' codec is back afterwards, also after an error."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from counseling_shared.db import JsonText, binary_jsonb

pytestmark = pytest.mark.integration

VALUES: list[Any] = [
    {"a": 1, "nested": [1.5, None, True, 'é"\\\n']},
    ["x", {"big": 12345678901234567890}],
    "text",
    None,
]


async def _copy(conn: Any) -> None:
    await conn.copy_records_to_table(
        "jsonb_probe", records=[(n, v) for n, v in enumerate(VALUES)], columns=("id", "body")
    )


async def test_copied_jsonb_reads_back_as_the_text_codec_wrote_it(
    pool: asyncpg.Pool[Any],
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE jsonb_probe (id int PRIMARY KEY, body jsonb)")
        # The services' codec is text only: asyncpg refuses a binary COPY of jsonb.
        with pytest.raises(asyncpg.InternalClientError, match="no binary format encoder"):
            await _copy(conn)
        async with binary_jsonb(conn):
            await _copy(conn)
            inside = await conn.fetchval("SELECT body FROM jsonb_probe WHERE id = 0")
        # Written by the text codec beside the copied rows: the same JSON in the table.
        await conn.executemany(
            "INSERT INTO jsonb_probe VALUES ($1, $2)",
            [(n + 10, v) for n, v in enumerate(VALUES)],
        )
        same = await conn.fetchval(
            """SELECT bool_and(a.body IS NOT DISTINCT FROM b.body) FROM jsonb_probe a
               JOIN jsonb_probe b ON b.id = a.id + 10"""
        )
        read = await conn.fetch("SELECT body FROM jsonb_probe WHERE id < 10 ORDER BY id")
        with pytest.raises(asyncpg.InternalClientError, match="no binary format encoder"):
            await _copy(conn)  # the services' text codec is back
        await conn.execute("DROP TABLE jsonb_probe")
    assert same is True
    assert inside == VALUES[0]
    assert [r["body"] for r in read] == VALUES


async def test_the_text_codec_is_back_after_an_error(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE jsonb_probe (id int PRIMARY KEY, body jsonb)")
        with pytest.raises(RuntimeError, match="rebuild failed"):
            async with binary_jsonb(conn):
                raise RuntimeError("rebuild failed")
        with pytest.raises(asyncpg.InternalClientError, match="no binary format encoder"):
            await _copy(conn)
        await conn.execute("DROP TABLE jsonb_probe")


async def test_json_text_is_copied_as_the_json_it_holds(pool: asyncpg.Pool[Any]) -> None:
    """A `JsonText` (jsonb read back as text) goes in as that JSON, not as a JSON string of
    it; any other value is still encoded (a plain `str` is a JSON string)."""
    stored = '{"traceparent": "00-ab-cd-01", "n": [1, 2.5]}'
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE jsonb_probe (id int PRIMARY KEY, body jsonb)")
        async with binary_jsonb(conn):
            await conn.copy_records_to_table(
                "jsonb_probe",
                records=[(1, JsonText(stored)), (2, stored), (3, {"k": "v"})],
                columns=("id", "body"),
            )
        read = await conn.fetch("SELECT body, jsonb_typeof(body) AS t FROM jsonb_probe ORDER BY id")
        await conn.execute("DROP TABLE jsonb_probe")
    assert [(r["body"], r["t"]) for r in read] == [
        ({"traceparent": "00-ab-cd-01", "n": [1, 2.5]}, "object"),
        (stored, "string"),
        ({"k": "v"}, "object"),
    ]
