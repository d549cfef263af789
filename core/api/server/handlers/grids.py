"""Grid reservations (``oargridsub``) as a site's server keeps them: a grid's number is opened here, each part is
reserved at its site's server (``POST /jobs`` with ``grid``), and the parts are recorded here once all are
reserved; a grid whose parts could not all be reserved is dropped. ``GET`` gives the record, which names the job
each site's server holds; the jobs themselves are read, and ended (``oargriddel``), at their sites."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ....errors import NotFound
from ....model import GridRecord, GridRef
from ....reservations import MAX_WALLTIME
from ... import wire
from .. import params
from ..errors import ApiError
from ..shapes import link
from ..state import identity, state_of

MAX_PARTS = 64
"""Parts of one grid (one per site: more is no testbed's)."""


def _grid_id(request: web.Request) -> int:
    raw = request.match_info["grid"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise ApiError(404, f"no grid reservation {raw[:40]!r} (grid ids are numbers)", NotFound)
    return int(raw)


def _item(record: GridRecord, site: str, root: str) -> dict[str, Any]:
    base = f"{root}/sites/{site}/grids/{record.id}"
    return {
        "uid": record.id,
        "user": record.user,
        "created_at": int(record.created),
        "walltime": record.walltime,
        "jobs": [
            {"site": ref.site, "uid": ref.job, "href": f"{root}/sites/{ref.site}/jobs/{ref.job}"}
            for ref in record.jobs
        ],
        "grid": wire.encode(record),
        "links": [link("self", base), link("parent", f"{root}/sites/{site}")],
    }


async def open_grid(request: web.Request) -> web.Response:
    """A new grid's number, before its parts are reserved at their sites."""
    state, site, root = state_of(request), params.site(request), params.base(request)
    ident = identity(request)
    body = await params.json_body(request)
    walltime = body.get("walltime") if isinstance(body, dict) else None
    if isinstance(walltime, bool) or not isinstance(walltime, int) or not 0 < walltime <= MAX_WALLTIME:
        raise ApiError(
            400, f'the body must be {{"walltime": SECONDS}}, a positive number at most {MAX_WALLTIME}'
        )
    if set(body) - {"walltime"}:
        raise ApiError(400, "a grid is opened with its walltime alone; its jobs are added once reserved")
    async with state.audit.audited(ident, "grid.open", site=site) as entry:
        grid_id = await state.service.open_grid(walltime, user=ident.user)
        entry.after = {"grid": grid_id}
        entry.result = {"status": 201}
    record = await state.service.grid_record(grid_id)
    location = {"Location": f"{root}/sites/{site}/grids/{grid_id}"}
    return web.json_response(_item(record, site, root), status=201, headers=location)


async def get_grid(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    record = await state.service.grid_record(_grid_id(request))
    return web.json_response(_item(record, site, params.base(request)))


def _refs(body: Any, sites: Any) -> list[GridRef]:
    shape = 'the body must be a list of the grid\'s jobs: [{"site": "lille", "uid": 1000}, ...]'
    if not isinstance(body, list) or not body or len(body) > MAX_PARTS:
        raise ApiError(400, f"{shape} (1 to {MAX_PARTS} of them)")
    refs = []
    for item in body:
        if not isinstance(item, dict) or set(item) != {"site", "uid"}:
            raise ApiError(400, shape)
        site, uid = item["site"], item["uid"]
        if not isinstance(site, str) or site not in sites:
            raise ApiError(400, f"unknown site {str(site)[:40]!r} in the grid's jobs")
        if isinstance(uid, bool) or not isinstance(uid, int) or not 0 < uid < 10**12:
            raise ApiError(400, "a job's uid is a positive number")
        refs.append(GridRef(site, uid))
    return refs


async def add_jobs(request: web.Request) -> web.Response:
    """The jobs each site's server reserved for the grid, recorded once every part is reserved."""
    state, site, root = state_of(request), params.site(request), params.base(request)
    ident = identity(request)
    grid_id = _grid_id(request)
    refs = _refs(await params.json_body(request), state.inventory.sites)
    async with state.audit.audited(ident, "grid.jobs", site=site, grid=grid_id) as entry:
        record = await state.service.add_grid_parts(grid_id, refs, user=ident.user)
        entry.after = [[r.site, r.job] for r in record.jobs]
        entry.result = {"status": 200}
    return web.json_response(_item(record, site, root))


async def drop_grid(request: web.Request) -> web.Response:
    """A grid whose parts could not all be reserved goes (one with jobs ends by deleting its jobs, each at its
    site: ``oargriddel``)."""
    state, site = state_of(request), params.site(request)
    ident = identity(request)
    grid_id = _grid_id(request)
    async with state.audit.audited(ident, "grid.drop", site=site, grid=grid_id) as entry:
        await state.service.drop_grid(grid_id, user=ident.user)
        entry.result = {"status": 204}
    return web.Response(status=204)
