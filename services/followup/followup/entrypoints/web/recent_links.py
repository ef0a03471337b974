"""What the error pages may say about a check-in link seen recently: the client's language and
the site's emergency line, kept in memory (bounded) while the database answers.

During an outage the database cannot say whose link it is; a page that answers "try again later"
should still speak the client's language and name the site's line if this process served the
link before. Nothing here is about the client's answers; the line is the site's public number.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

CAPACITY = 4096  # links; a few hundred kB at most


@dataclass(frozen=True)
class RecentLink:
    locale: str
    emergency_line: str | None


_RECENT: OrderedDict[UUID, RecentLink] = OrderedDict()


def remember(followup_id: UUID, locale: str, emergency_line: str | None) -> None:
    _RECENT[followup_id] = RecentLink(locale, emergency_line)
    _RECENT.move_to_end(followup_id)
    while len(_RECENT) > CAPACITY:
        _RECENT.popitem(last=False)


def recall(followup_id: UUID) -> RecentLink | None:
    return _RECENT.get(followup_id)


def forget_all() -> None:
    """For tests."""
    _RECENT.clear()
