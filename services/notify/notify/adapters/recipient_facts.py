"""Everything notify knows about a recipient and their site, read in one round trip (this runs
for every queued and every delivered message)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from counseling_shared.codes import Channel
from notify.domain.preferences import RecipientPreferences
from notify.domain.quiet_hours import QuietHours
from notify.domain.recipients import ClientProfile, Site, StaffMember

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class RecipientFacts:
    preferences: RecipientPreferences | None
    site: Site | None
    staff: StaffMember | None
    client: ClientProfile | None


FACTS_COLUMNS = """p.recipient_id AS p_id, p.quiet_start, p.quiet_end, p.channel AS p_channel,
    p.updated_at AS p_updated_at, p.version AS p_version,
    s.site_id AS s_id, s.name AS s_name, s.timezone AS s_timezone, s.locale AS s_locale,
    st.staff_id AS st_id, st.site_id AS st_site_id, st.name AS st_name, st.role AS st_role,
    st.email AS st_email, st.phone AS st_phone, st.locale AS st_locale,
    st.deactivated_at AS st_deactivated_at,
    c.client_id AS c_id, c.site_id AS c_site_id, c.locale AS c_locale,
    c.timezone AS c_timezone, c.preferred_channel AS c_channel"""
"""The facts' columns, for a query that joins `facts_joins` (read back by `facts_from_row`)."""


def facts_joins(asked: str) -> str:
    """The joins that find the facts of the recipient and site in `asked`'s `recipient_id` and
    `site_id` columns (a driving table or CTE: one row each, the joins on primary keys)."""
    return f"""LEFT JOIN recipient_preferences p ON p.recipient_id = {asked}.recipient_id
           LEFT JOIN sites s ON s.site_id = {asked}.site_id
           LEFT JOIN staff_contacts st ON st.staff_id = {asked}.recipient_id
           LEFT JOIN clients c ON c.client_id = {asked}.recipient_id"""


async def recipient_facts(conn: Connection, recipient_id: UUID, site_id: UUID) -> RecipientFacts:
    return (await recipient_facts_many(conn, [(recipient_id, site_id)]))[0]


async def recipient_facts_many(
    conn: Connection, asked: Sequence[tuple[UUID, UUID]]
) -> list[RecipientFacts]:
    """The facts of each (recipient, site) asked, in the order asked: one round trip for an
    inbox batch's messages."""
    if not asked:
        return []
    rows = await conn.fetch(
        f"""SELECT {FACTS_COLUMNS}
           FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS asked(recipient_id, site_id, n)
           {facts_joins("asked")}
           ORDER BY asked.n""",
        [recipient for recipient, _ in asked],
        [site for _, site in asked],
    )
    assert len(rows) == len(asked)  # one driving row each; the joins are on primary keys
    return [facts_from_row(row) for row in rows]


def facts_from_row(row: asyncpg.Record) -> RecipientFacts:
    preferences = None
    if row["p_id"] is not None:
        quiet = (
            QuietHours(row["quiet_start"], row["quiet_end"])
            if row["quiet_start"] is not None
            else None
        )
        preferences = RecipientPreferences(
            recipient_id=row["p_id"],
            quiet_hours=quiet,
            channel=Channel(row["p_channel"]) if row["p_channel"] else None,
            updated_at=row["p_updated_at"],
            version=row["p_version"],
        )
    site = (
        Site(row["s_id"], row["s_name"], row["s_timezone"], row["s_locale"])
        if row["s_id"] is not None
        else None
    )
    staff = (
        StaffMember(
            staff_id=row["st_id"],
            site_id=row["st_site_id"],
            name=row["st_name"],
            role=row["st_role"],
            email=row["st_email"],
            phone=row["st_phone"],
            locale=row["st_locale"],
            active=row["st_deactivated_at"] is None,
        )
        if row["st_id"] is not None
        else None
    )
    client = (
        ClientProfile(
            client_id=row["c_id"],
            site_id=row["c_site_id"],
            locale=row["c_locale"],
            timezone=row["c_timezone"],
            preferred_channel=Channel(row["c_channel"]),
        )
        if row["c_id"] is not None
        else None
    )
    return RecipientFacts(preferences=preferences, site=site, staff=staff, client=client)
