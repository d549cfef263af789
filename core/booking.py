"""Reserving in the store: one job (``oarsub``), or a grid's jobs, one per site, all or nothing (``oargridsub``).

Every job of a grid is allocated in one write transaction, each site's after the others' (none takes a node or a
VLAN another part took): if one site cannot serve its part, the transaction is rolled back and nothing stays
reserved. Embedded, a grid is made here at once; remote, each part goes to its site's server (a job recording its
grid), and the home server keeps the grid's record (``open_grid``, ``add_parts``, ``drop_grid``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import BadInput, NotAllowed, NotFound, Unavailable
from .grids import GridRequest
from .model import Grid, GridPart, GridRecord, GridRef, Job, JobState
from .reservations import (
    AllocationError,
    Request,
    RequestError,
    allocate,
    check_job,
    check_walltime,
    parse_request,
)

if TYPE_CHECKING:
    from .service import KavlanService
    from .store import Tx


@dataclass(frozen=True, slots=True)
class Wanted:
    """A job as asked for, its request parsed and every value checked."""

    request: str
    parsed: Request
    types: tuple[str, ...]
    name: str
    walltime: int | None


def wanted(request: str, *, properties: str, types: Sequence[str], name: str, walltime: int | None) -> Wanted:
    """Check what a job asks for before any work: one sentence (BadInput) for what is wrong."""
    try:
        parsed = parse_request(request, properties)
        check_job(name, types)
        if walltime is not None:
            check_walltime(walltime)
    except RequestError as exc:
        raise BadInput(str(exc)) from None
    if not parsed.groups:
        raise BadInput(f"the request {request!r} asks for no resource")
    return Wanted(request, parsed, tuple(types), name, walltime)


class Booking:
    """The service's reservations: jobs and grids, in the store."""

    def __init__(self, service: KavlanService) -> None:
        self.service = service

    def _taken(self, tx: Tx) -> tuple[set[str], dict[tuple[str, int], int]]:
        """The nodes and VLANs no new job gets: running jobs', an unfinished end's, and the nodes marked
        unavailable (until an administrator clears them)."""
        ending = tx.ending_jobs()
        busy = tx.busy_nodes() | {n for j in ending for n in j.nodes} | set(tx.unavailable())
        held = {**tx.held_vlans(), **{(v.site, v.vlan): j.id for j in ending for v in j.vlans}}
        return busy, held

    def _new_job(
        self,
        tx: Tx,
        want: Wanted,
        *,
        user: str,
        site: str,
        now: float,
        taken: tuple[set[str], dict[tuple[str, int], int]],
        grid: int | None = None,
    ) -> Job:
        """Allocate and insert one job; what it takes is added to ``taken`` (the next part's allocation)."""
        busy, held = taken
        try:
            alloc = allocate(self.service.inventory, want.parsed, site, busy, held)
        except AllocationError as exc:
            raise Unavailable(str(exc)) from None
        wall = want.parsed.walltime or want.walltime or self.service.settings.default_walltime
        job = Job(
            id=tx.next_job_id(),
            user=user,
            state=JobState.RUNNING,
            name=want.name,
            types=want.types,
            request=want.request,
            submitted=now,
            started=now,
            walltime=wall,
            ended=None,
            nodes=tuple(alloc.nodes),
            vlans=tuple(alloc.vlans),
            grid=grid,
        )
        tx.insert_job(job)
        if grid is not None:
            tx.set_job_grid(job.id, grid)
        busy.update(job.nodes)
        held.update({(v.site, v.vlan): job.id for v in job.vlans})
        tx.audit(
            user,
            "job.submit",
            job=job.id,
            nodes=list(job.nodes),
            vlans=[[v.site, v.vlan] for v in job.vlans],
            **({"grid": grid} if grid is not None else {}),
        )
        return job

    def submit(self, want: Wanted, *, user: str, site: str, grid: int | None = None) -> Job:
        """One job (a part of grid ``grid`` made elsewhere, when given)."""
        with self.service.store.write() as tx:
            if grid is not None:
                self._joinable(tx, grid, user)
            return self._new_job(
                tx, want, user=user, site=site, now=self.service.clock(), taken=self._taken(tx), grid=grid
            )

    def _joinable(self, tx: Tx, grid: int, user: str) -> None:
        """A part may join a grid this store keeps only if the grid is its user's and still has no jobs (one kept
        by another site's server is that server's to check)."""
        found = tx.grid(grid)
        if found is None:
            return
        owner, _created, _walltime, parts = found
        if owner != user and user not in self.service.settings.admins:
            raise NotAllowed(f"grid reservation {grid} belongs to {owner}, not to {user}")
        if parts:
            raise BadInput(f"grid reservation {grid} already has its jobs: a new job cannot join it")

    def submit_grid(
        self,
        parts: Sequence[GridRequest],
        *,
        user: str,
        types: Sequence[str],
        walltime: int | None,
        name: str,
    ) -> Grid:
        """Every part's job in one transaction: all reserved, or none (the sentence names the site that could
        not serve)."""
        if not parts:
            raise BadInput("a grid reservation needs at least one site's part")
        wants = [
            (
                p,
                wanted(
                    p.request,
                    properties=p.properties,
                    types=(*types, *p.types),
                    name=name or p.name,
                    walltime=walltime,
                ),
            )
            for p in parts
        ]
        now = self.service.clock()
        wall = walltime or self.service.settings.default_walltime
        with self.service.store.write() as tx:
            taken = self._taken(tx)
            grid_id = tx.next_grid_id()
            tx.insert_grid(grid_id, user, now, wall)
            out = []
            for part, want in wants:
                want = replace(want, walltime=wall)
                try:
                    job = self._new_job(
                        tx, want, user=user, site=part.site, now=now, taken=taken, grid=grid_id
                    )
                except Unavailable as exc:  # the transaction rolls back: the parts before hold nothing
                    raise Unavailable(
                        f"{part.site} cannot serve its part, nothing was reserved: {exc}"
                    ) from None
                out.append(GridPart(part.site, job))
            tx.add_grid_parts(grid_id, [(p.site, p.job.id) for p in out])
            tx.audit(user, "grid.submit", grid=grid_id, jobs=[[p.site, p.job.id] for p in out])
        return Grid(grid_id, user, now, wall, tuple(out))

    # --- a grid's record, kept by its home server (remote mode) -------------------------------------------

    def open_grid(self, *, user: str, walltime: int) -> int:
        """A new grid's number, before its parts are reserved on their sites' servers."""
        check_walltime_or_bad(walltime)
        with self.service.store.write() as tx:
            grid_id = tx.next_grid_id()
            tx.insert_grid(grid_id, user, self.service.clock(), walltime)
            tx.audit(user, "grid.open", grid=grid_id)
        return grid_id

    def record(self, grid_id: int) -> GridRecord:
        with self.service.store.read() as tx:
            found = tx.grid(grid_id)
        if found is None:
            raise NotFound(f"grid reservation {grid_id} does not exist")
        user, created, walltime, parts = found
        return GridRecord(grid_id, user, created, walltime, tuple(GridRef(s, j) for s, j in parts))

    def add_parts(self, grid_id: int, parts: Sequence[GridRef], *, user: str) -> GridRecord:
        """The jobs its sites' servers reserved, recorded once every part is reserved."""
        self._own(grid_id, user, empty=True)
        with self.service.store.write() as tx:
            tx.add_grid_parts(grid_id, [(p.site, p.job) for p in parts])
            tx.audit(user, "grid.parts", grid=grid_id, jobs=[[p.site, p.job] for p in parts])
        return self.record(grid_id)

    def drop(self, grid_id: int, *, user: str) -> None:
        """A grid whose parts could not all be reserved: its number goes (its parts were deleted)."""
        self._own(grid_id, user, empty=True)
        with self.service.store.write() as tx:
            tx.delete_grid(grid_id)
            tx.audit(user, "grid.drop", grid=grid_id)

    def _own(self, grid_id: int, user: str, *, empty: bool) -> None:
        record = self.record(grid_id)
        if record.user != user and user not in self.service.settings.admins:
            raise NotAllowed(f"grid reservation {grid_id} belongs to {record.user}, not to {user}")
        if empty and record.jobs:
            raise BadInput(f"grid reservation {grid_id} already has its jobs: delete it with oargriddel")


def check_walltime_or_bad(walltime: int) -> None:
    if walltime <= 0:
        raise BadInput("a walltime is a positive number of seconds")
    try:
        check_walltime(walltime)
    except RequestError as exc:
        raise BadInput(str(exc)) from None
