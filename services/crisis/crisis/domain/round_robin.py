"""Round robin: a level that pages ONE of its people per alert, each alert the next in turn.

Pure. The level's people are resolved when it is paged (its staff ids, then whoever its
schedules have on call, duplicates removed); `Turn` is where the site's turns at that level
stand, kept by the caller (durably, one writer at a time). The turn goes to the person after
the one paged last; when that person is no longer among the level's people (a policy change, a
shift handed over), to the one at position `turns taken mod people`, so the load keeps spreading.

One alert never pages the same person twice while the level has someone it has not paged: the
person whose turn it is, when this alert already paged them (an earlier level, an earlier
pass), keeps their place and the first one after them this alert has not paged stands in. The
stand-in took their own turn early (`Turn.early`): the rotation passes over them once when it
reaches their place, so over a round everyone still gets one turn. Only when the alert has
paged everyone in the level who can be paged does the person whose turn it is get paged again.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Turn:
    """A site's round-robin level so far: how many turns it gave, the person the rotation
    stands after (`last_staff_id`: the next turn is the one after them), and who took a turn
    ahead of their place and is passed over once when the rotation reaches them (`early`,
    once per turn taken early)."""

    taken: int = 0
    last_staff_id: UUID | None = None
    early: tuple[UUID, ...] = ()


Turns = Mapping[int, Turn]
"""Per level position (1-based) of a site: its turn (a level absent: no turn given yet)."""


@dataclass(frozen=True)
class Choice:
    """Whose turn it is (`staff_id`, None: nobody can be paged), the people passed over before
    them (in turn order) who cannot be paged, the turn's number (`turn`: counting this one),
    and where the rotation stands afterwards (`next_turn`).

    `kept_place`: the people passed over because this alert already paged them (their turn
    waits for the next alert); `settled`: the people passed over because they took this turn
    early; `everyone_paged`: the alert had paged everyone in the level who can be paged, so the
    person whose turn it was is paged again."""

    staff_id: UUID | None
    passed_over: tuple[UUID, ...]
    turn: int
    after_staff_id: UUID | None
    next_turn: Turn | None = None
    kept_place: tuple[UUID, ...] = ()
    settled: tuple[UUID, ...] = ()
    everyone_paged: bool = False

    @property
    def stood_in(self) -> bool:
        """The chosen person took the turn of someone this alert already paged."""
        return bool(self.kept_place) and not self.everyone_paged


def choose(
    people: Sequence[UUID],
    turn: Turn,
    cannot_page: Collection[UUID],
    paged_already: Collection[UUID] = frozenset(),
) -> Choice:
    """The next of `people` in turn after `turn`, passing over those in `cannot_page`, and
    standing in for those this alert already paged (`paged_already`) while anyone it did not
    page is left."""
    after = turn.last_staff_id if turn.last_staff_id in people else None
    if not people:
        return Choice(None, (), turn.taken + 1, after)
    size = len(people)
    start = people.index(after) + 1 if after is not None else turn.taken
    early = [person for person in turn.early if person in people]  # who left owes nothing
    passed: list[UUID] = []
    settled: list[UUID] = []
    head: int | None = None
    # The rotation moves past who cannot be paged (they lose this turn, as they always did) and
    # who took this turn early already (settled once), up to the person whose turn it is.
    for offset in range(size * (len(early) + 1)):
        person = people[(start + offset) % size]
        if person in cannot_page:
            passed.append(person)
        elif person in early:
            early.remove(person)
            settled.append(person)
        else:
            head = offset
            break
    number = turn.taken + 1
    passed_over = tuple(dict.fromkeys(passed))
    if head is None:
        return Choice(None, passed_over, number, after, settled=tuple(settled))
    due = people[(start + head) % size]
    if due not in paged_already:
        next_turn = Turn(number, due, tuple(early))
        return Choice(due, passed_over, number, after, next_turn, settled=tuple(settled))
    # The alert paged them already: the first after them it has not paged stands in, and the
    # rotation stays just before `due`, who keeps their place for the next alert.
    stays_after = people[(start + head - 1) % size]
    kept: list[UUID] = []
    for offset in range(head, head + size):
        person = people[(start + offset) % size]
        if person in cannot_page:
            passed.append(person)
        elif person in paged_already:
            kept.append(person)
        else:
            next_turn = Turn(number, stays_after, (*early, person))
            return Choice(
                person,
                tuple(dict.fromkeys(passed)),
                number,
                after,
                next_turn,
                tuple(dict.fromkeys(kept)),
                tuple(settled),
            )
    # Everyone who can be paged was paged by this alert: the one whose turn it is, again.
    next_turn = Turn(number, due, tuple(early))
    kept_place = tuple(dict.fromkeys(kept))
    return Choice(due, passed_over, number, after, next_turn, kept_place, tuple(settled), True)
