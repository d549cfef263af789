"""One walk of SNMP table columns that adapts to what the switch can answer: rows per GETBULK from what fit this
switch before and from the size of the rows it answers, one row then one column at a time when an answer does not
fit, and scalars (GETNEXTs) riding on the first request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import SwitchError, SwitchTimeout
from .snmp_session import AnswerTooBig, Oid, SnmpSession, object_name, present, settle


def _largest_row(varbinds: Sequence[Any], width: int) -> int:
    """About how many octets the largest row of a GETBULK answer takes (values and names, not the BER framing)."""
    sizes = []
    for name, value in varbinds:
        as_octets = getattr(value, "asOctets", None)
        sizes.append(len(tuple(name)) * 2 + 8 + (len(as_octets()) if as_octets is not None else 8))
    return max((sum(sizes[i : i + width]) for i in range(0, len(sizes), width)), default=0)


class TableWalk:
    """One walk of table columns side by side: its cursors and rows so far, and how many rows each GETBULK asks
    for: from what fit this switch before, from the largest row it has answered, and never more than half a
    size whose answer did not arrive. A table walked for the first time starts with a few rows, to see them."""

    FIRST = 8

    def __init__(
        self,
        session: SnmpSession,
        columns: Sequence[Oid],
        rows_hint: int | None,
        successors: Sequence[Oid] = (),
    ) -> None:
        self.session = session
        self.driver = session.driver
        self.key = " ".join(object_name(c) for c in columns)
        self.rows: dict[Oid, list[tuple[Oid, Any]]] = {c: [] for c in columns}
        self.cursor: dict[Oid, Oid] = {c: c for c in columns}
        self.columns = list(columns)
        self.asked = list(successors)
        """GETNEXTs riding on the next GETBULK, until answered."""
        self.successors: dict[Oid, list[tuple[Oid, Any]]] = {}
        self.one_by_one = False
        reps = self.driver.read_sizes.get(self.key, min(self.FIRST, self.driver.max_repetitions))
        self.reps = reps if rows_hint is None else max(1, min(reps, rows_hint + 1))

    @property
    def done(self) -> bool:
        return not self.cursor and not self.asked

    async def step(self) -> None:
        """One round: a GETBULK of every column still walked (or one per column, concurrently)."""
        active = [c for c in self.columns if c in self.cursor]
        if self.one_by_one or not active:
            if self.asked:  # on their own: one row of every column was too big for them to ride along
                self._answered(await self.session.bulk([], 0, self.asked))
            answers = await settle(self.session.bulk([self.cursor[c]], 1) for c in active)
            for column, varbinds in zip(active, answers, strict=True):
                self._take([column], varbinds)
            return
        try:
            varbinds = await self.session.bulk([self.cursor[c] for c in active], self.reps, self.asked)
        except (AnswerTooBig, SwitchTimeout) as exc:
            await self._shrink(exc, len(active))
            return
        varbinds = self._answered(varbinds)
        if (
            not varbinds
        ):  # cut to nothing to fit a message: too big (a table's end is endOfMibView, not silence)
            await self._shrink(
                AnswerTooBig(self.driver.switch.name, "the switch answered no row"), len(active)
            )
            return
        self._take(active, varbinds)
        self._resize(varbinds, len(active))

    def _answered(self, varbinds: Sequence[Any]) -> Sequence[Any]:
        """Take the riding GETNEXTs' answers off the front of ``varbinds``; the rest."""
        if not self.asked:
            return varbinds
        if len(varbinds) < len(self.asked):
            raise self.driver._error(f"answered {len(varbinds)} values for {len(self.asked)} requested")
        for oid, (name, value) in zip(self.asked, varbinds, strict=False):
            self.successors[oid] = [(tuple(name), present(value))]
        rest = varbinds[len(self.asked) :]
        self.asked = []
        return rest

    async def _shrink(self, exc: SwitchError, width: int) -> None:
        """The answer did not fit: one row at a time, then one column at a time; raise when nothing smaller is left."""
        if self.reps == 1 and width == 1:
            raise exc
        await self.session.still_there(exc)
        self.driver.too_big[self.key] = min(self.reps, self.driver.too_big.get(self.key, self.reps))
        if self.reps > 1:
            self.reps = 1
        else:
            self.one_by_one = True
        self.driver.read_sizes[self.key] = 1

    def _resize(self, varbinds: Sequence[Any], width: int) -> None:
        """The rows the next GETBULK asks for: as many of the largest row seen in this table as fit
        ``max_answer_octets``, at most half a size that did not fit, within ``max_repetitions``; remembered for
        the next walk of the table."""
        if not varbinds:
            return
        largest = max(_largest_row(varbinds, width), self.driver.row_octets.get(self.key, 0))
        self.driver.row_octets[self.key] = largest
        fit = self.driver.max_answer_octets // max(1, largest)
        ceiling = self.driver.too_big.get(self.key, 2 * self.driver.max_repetitions) // 2
        self.reps = max(1, min(fit, ceiling, self.driver.max_repetitions))
        self.driver.read_sizes[self.key] = self.reps

    def _take(self, active: Sequence[Oid], varbinds: Sequence[Any]) -> None:
        if not varbinds:
            raise self.driver._error(f"answered no value while walking {object_name(active[0])}")
        for i, (name, value) in enumerate(varbinds):
            column = active[i % len(active)]
            if column not in self.cursor:
                continue
            oid = tuple(name)
            if oid[: len(column)] != column or present(value) is None:
                del self.cursor[column]  # walked past the column's end
                continue
            if oid <= self.cursor[column]:
                raise self.driver._error(
                    f"answered a non-increasing OID {object_name(oid)} while walking {object_name(column)}"
                )
            self.rows[column].append((oid[len(column) :], value))
            self.cursor[column] = oid
