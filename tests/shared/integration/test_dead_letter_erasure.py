"""A client's erasure deletes the dead letters naming them: the table's rule (SQL) and the DLQ
stream's (Python) agree on which letters those are."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from counseling_shared.erasure import erase_dead_letters, names_client

if TYPE_CHECKING:
    from counseling_shared.db import Connection

pytestmark = pytest.mark.integration

X = uuid4()
Y = uuid4()


def _letter(
    payload: bytes, subject: str = "booking.x.Event", headers: dict[str, str] | None = None
) -> tuple[str, dict[str, str], bytes]:
    return subject, headers or {}, payload


CASES: dict[str, tuple[tuple[str, dict[str, str], bytes], bool]] = {
    "a field of the data": (_letter(json.dumps({"data": {"client_id": str(X)}}).encode()), True),
    "nested deep": (
        _letter(json.dumps({"data": {"a": [{"b": {"who": [str(X)]}}]}}).encode()),
        True,
    ),
    "upper case": (_letter(json.dumps({"client": str(X).upper()}).encode()), True),
    "raw bytes, not UTF-8": (_letter(b"\xff\xfe\x00{" + str(X).encode() + b"\x80"), True),
    "only the subject": (_letter(b"{}", subject=f"booking.{X}.ClientRegistered"), True),
    "only a header": (_letter(b"{}", headers={"Dlq-Original-Subject": f"booking.{X}.E"}), True),
    "another client": (_letter(json.dumps({"data": {"client_id": str(Y)}}).encode()), False),
    "the id cut short": (_letter(str(X)[:-1].encode()), False),
    "no id at all": (_letter(b"{not json"), False),
}


async def _insert(conn: Connection, name: str, letter: tuple[Any, ...]) -> int:
    subject, headers, payload = letter
    found: int = await conn.fetchval(
        """INSERT INTO dead_letters (consumer, stream, stream_seq, subject, reason, detail,
                                     deliveries, payload, headers)
           VALUES ($1, 'BOOKING', 1, $2, 'malformed', 'x', 1, $3, $4) RETURNING id""",
        name,
        subject,
        payload,
        headers,
    )
    return found


async def test_the_table_and_the_stream_rule_agree_on_which_letters_name_the_client(
    pool: asyncpg.Pool[Any],
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        ids = {name: await _insert(conn, name, letter) for name, (letter, _) in CASES.items()}
        deleted = await erase_dead_letters(conn, X)
        left = {r["id"] for r in await conn.fetch("SELECT id FROM dead_letters")}

    in_sql = {name for name, letter_id in ids.items() if letter_id not in left}
    in_python = {name for name, (letter, _) in CASES.items() if names_client(X, *letter)}
    expected = {name for name, (_, names) in CASES.items() if names}
    assert in_sql == expected
    assert in_python == expected
    assert deleted == len(expected)


def test_an_id_is_matched_on_its_text_not_as_part_of_another() -> None:
    other = UUID(int=X.int ^ 1)
    assert not names_client(X, "s", {}, str(other).encode())
