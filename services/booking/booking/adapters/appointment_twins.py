"""A rebuild's appointments compared with the rows already in `appointments` and `slot_claims`
instead of written over an emptied table (`booking.application.rebuild`).

Writing every booked appointment again makes PostgreSQL check it against the four exclusion
constraints on the counselor and client (two per table), each probe reading every entry of that
counselor or client in the GiST leaf it lands on: most of a rebuild's PostgreSQL time. When the
rows are mostly right already (a rebuild that only checks, or repairs a few rows), the rebuilt
rows go into temporary twins of the two tables (plain COPY, no index), and at the end of the
appointments only the rows that differ, or exist on one side only, are deleted and then the
rebuilt ones inserted. Deleting before inserting keeps the result that of an emptied table: two
rows that conflict only in an intermediate state (a slot one is leaving and the other taking)
never meet. Rows are equal when every column is (`IS NOT DISTINCT FROM`, each type's equality).

When most rows differ (a new column, a changed rule), comparing would cost more than it saves:
the inserts would run after the fold instead of beside it, over tables still holding the
deleted rows' index entries. So the first batch decides: if most of its appointments differ
from their rows, both tables are emptied, what the twins hold goes in, and every later batch is
copied straight into the tables, as into an emptied table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from counseling_shared.db import Connection

TWINS = {"appointments": "rebuilt_appointments", "slot_claims": "rebuilt_slot_claims"}

CREATE = "; ".join(
    f"CREATE TEMPORARY TABLE {twin} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    for table, twin in TWINS.items()
)

# Holds' and group sessions' claims are not in the twin: they are deleted here and written
# again by their saves, which come after the appointments.
_APPLY = """
    DELETE FROM slot_claims c WHERE NOT EXISTS (
        SELECT FROM rebuilt_slot_claims r
        WHERE r.owner_id = c.owner_id AND ROW(r.*) IS NOT DISTINCT FROM ROW(c.*));
    DELETE FROM appointments a WHERE NOT EXISTS (
        SELECT FROM rebuilt_appointments r
        WHERE r.id = a.id AND ROW(r.*) IS NOT DISTINCT FROM ROW(a.*));
    INSERT INTO appointments SELECT * FROM rebuilt_appointments r
        WHERE NOT EXISTS (SELECT FROM appointments a WHERE a.id = r.id);
    INSERT INTO slot_claims SELECT * FROM rebuilt_slot_claims r
        WHERE NOT EXISTS (SELECT FROM slot_claims c WHERE c.owner_id = r.owner_id);
    DROP TABLE rebuilt_appointments, rebuilt_slot_claims"""

_DIFFERING = """
    SELECT count(*) FILTER (WHERE NOT EXISTS (
               SELECT FROM appointments a
               WHERE a.id = r.id AND ROW(r.*) IS NOT DISTINCT FROM ROW(a.*))) AS differing,
           count(*) AS rebuilt
    FROM rebuilt_appointments r"""

_STRAIGHT_IN = """
    TRUNCATE appointments, slot_claims;
    INSERT INTO appointments SELECT * FROM rebuilt_appointments;
    INSERT INTO slot_claims SELECT * FROM rebuilt_slot_claims;
    DROP TABLE rebuilt_appointments, rebuilt_slot_claims"""


class Twins:
    """What the appointments' saves are given (it stands in for the rebuild's recorder): their
    copies go to the twins, or, once `decide` found most rows different, to the tables. It
    copies only: a save that did anything else would fail loudly (AttributeError)."""

    def __init__(self, into: Connection) -> None:
        self._into = into
        self.straight = False  # copies go to the tables themselves

    async def copy_records_to_table(
        self, table_name: str, *, records: Iterable[Sequence[Any]], columns: Sequence[str]
    ) -> str:
        table = table_name if self.straight else TWINS.get(table_name, table_name)
        copied: str = await self._into.copy_records_to_table(
            table, records=records, columns=columns
        )
        return copied

    async def decide(self, conn: Connection) -> None:
        """With the twins' first batch written: if most of its appointments differ from their
        rows, empty both tables, move the twins' rows in, and copy the rest straight in."""
        found = await conn.fetchrow(_DIFFERING)
        assert found is not None
        if 2 * found["differing"] > found["rebuilt"]:
            await conn.execute(_STRAIGHT_IN)
            self.straight = True

    async def apply(self, conn: Connection) -> None:
        """At the end of the appointments: the differing rows out, the rebuilt ones in."""
        if not self.straight:
            await conn.execute(_APPLY)
