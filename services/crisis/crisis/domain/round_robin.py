"""Round robin: a level that pages ONE of its people per alert, each alert the next in turn.

Pure. The level's people are resolved when it is paged (its staff ids, then whoever its
schedules have on call, duplicates removed); `Turn` is where the site's turns at that level
stand, kept by the caller (durably, one writer at a time). The turn goes to the person after
the one paged last; when that person is no longer among the level's people (a policy change, a
shift handed over), to the one at position `turns taken mod people`, so the load keeps spreading.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Turn:
    """A site's round-robin level so far: how many turns it gave, and who had the last one."""

    taken: int = 0
    last_staff_id: UUID | None = None


Turns = Mapping[int, Turn]
"""Per level position (1-based) of a site: its turn (a level absent: no turn given yet)."""


@dataclass(frozen=True)
class Choice:
    """Whose turn it is (`staff_id`, None: nobody can be paged), the people passed over before
    them (in turn order), and the turn's number (`turn`: counting this one)."""

    staff_id: UUID | None
    passed_over: tuple[UUID, ...]
    turn: int
    after_staff_id: UUID | None


def choose(people: Sequence[UUID], turn: Turn, cannot_page: Collection[UUID]) -> Choice:
    """The next of `people` in turn after `turn`, passing over those in `cannot_page`."""
    after = turn.last_staff_id if turn.last_staff_id in people else None
    if not people:
        return Choice(None, (), turn.taken + 1, after)
    start = people.index(after) + 1 if after is not None else turn.taken
    in_turn = [people[(start + i) % len(people)] for i in range(len(people))]
    passed: list[UUID] = []
    for person in in_turn:
        if person not in cannot_page:
            return Choice(person, tuple(passed), turn.taken + 1, after)
        passed.append(person)
    return Choice(None, tuple(passed), turn.taken + 1, after)
