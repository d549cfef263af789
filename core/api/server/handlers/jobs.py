"""The OAR jobs a client needs: list (paged as g5k-api pages), read, reserve (``oarsub``), end (``oardel``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ....errors import NotFound
from ....model import Job, JobState, vlan_label
from ....reservations import MAX_WALLTIME
from ... import auth
from .. import params
from ..errors import ApiError
from ..shapes import collection, job_item, job_sites
from ..state import ServerState, identity, state_of

STATES = {"running", "terminated", "error"}
OAR_STATES = {
    "waiting",
    "hold",
    "tolaunch",
    "toerror",
    "toackreservation",
    "launching",
    "finishing",
    "suspended",
    "resuming",
}
"""OAR's other states, accepted in ``state=``: a job here is running as soon as it is submitted."""
FIELDS = {
    "resources",
    "types",
    "name",
    "walltime",
    "command",
    "properties",
    "directory",
    "project",
    "queue",
    "reservation",
    "grid",
}
# command, directory, project (strings) and queue (one of QUEUES, or null) are what OAR's clients send: accepted
# and ignored; every job here starts at once whichever queue it names (EnOSlib sends "queue": "default")
NO_RESERVATION = (
    "Reservation not valid --> KO (advance reservations are not made here: every job starts when it is submitted; "
    "submit it without a reservation date)"
)
"""OAR's words for a reservation it refuses, then why (EnOSlib reads OAR's words)."""
ALREADY_KILLED = "Cannot frag {job} ; This job was already killed (it has already ended: {state})"
"""``oardel``'s words for a job that ended (EnOSlib looks for "This job was already killed" and goes on)."""
MAX_NAME_FILTER = 128
QUEUES = ("default", "production", "testing", "besteffort", "admin")
"""Grid'5000's OAR queues: accepted by name (a job here runs at once whichever it names); any other is refused."""


def _wanted_states(request: web.Request) -> set[str]:
    raw = request.query.get("state", "running")
    wanted = {s.strip().lower() for s in raw.split(",") if s.strip()}
    unknown = wanted - STATES - OAR_STATES - {"all"}
    if unknown:
        shown = ", ".join(repr(u[:20]) for u in sorted(unknown)[:5])
        raise ApiError(400, f"unknown job state(s) {shown} (running, terminated, error, all)")
    return wanted


async def list_jobs(request: web.Request) -> web.Response:
    """The jobs touching the site, newest first (as g5k-api orders them), a page of them."""
    state, site, root = state_of(request), params.site(request), params.base(request)
    user = request.query.get("user") or None
    if user is not None and not auth.USER_NAME.fullmatch(user):
        raise ApiError(400, f"query parameter user must be a user name, not {user[:40]!r}")
    name = request.query.get("name")
    if name is not None and (len(name) > MAX_NAME_FILTER or not name.isprintable()):
        raise ApiError(
            400, f"query parameter name must be a job's name (printable, at most {MAX_NAME_FILTER})"
        )
    wanted = _wanted_states(request)
    offset, limit = params.paging(request)
    # OAR's other states are accepted and match nothing (a job runs as soon as it is submitted)
    states = None if "all" in wanted else {s for s in JobState if s.value.lower() in wanted}
    total, jobs = await state.service.jobs_page(
        site, user=user, states=states, offset=offset, limit=limit, name=name
    )
    page = [job_item(state.inventory, site, j, root) for j in jobs]
    base = f"{root}/sites/{site}"
    return web.json_response(collection(page, f"{base}/jobs", base, total=total, offset=offset))


async def _site_job(state: ServerState, site: str, raw: str) -> Job:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise ApiError(404, f"no job {raw[:40]!r} (job ids are numbers)", NotFound)
    job = await state.service.job(int(raw))
    if site not in job_sites(state.inventory, job):
        raise ApiError(404, f"job {job.id} is not a job of {site}", NotFound)
    return job


async def get_job(request: web.Request) -> web.Response:
    state, site = state_of(request), params.site(request)
    job = await _site_job(state, site, request.match_info["job"])
    return web.json_response(job_item(state.inventory, site, job, params.base(request)))


def _job_request(body: Any) -> dict[str, Any]:
    """The body of ``POST /jobs``, checked: one sentence for what is wrong with it."""
    if not isinstance(body, dict):
        raise ApiError(
            400, 'the request body must be a JSON object: {"resources": "<oarsub -l request>", ...}'
        )
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise ApiError(400, f"unknown job field(s): {shown} (known: {', '.join(sorted(FIELDS))})")
    resources, types, walltime = body.get("resources"), body.get("types", []), body.get("walltime")
    if not isinstance(resources, str) or not resources.strip():
        raise ApiError(
            400, "resources must be the oarsub -l request, e.g. {\"type='kavlan'\"}/vlan=1+/nodes=2"
        )
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise ApiError(400, 'types must be a list of job types (e.g. ["deploy"])')
    strings = ("name", "properties", "command", "directory", "project")
    if not all(isinstance(body.get(k, ""), str) for k in strings):
        raise ApiError(400, f"{', '.join(strings)} must be strings")
    if body.get("queue") not in (None, *QUEUES):
        raise ApiError(400, f"unknown queue {str(body['queue'])[:40]!r} (known: {', '.join(QUEUES)})")
    if body.get("reservation") is not None:
        raise ApiError(400, NO_RESERVATION)
    if "walltime" in body and (
        isinstance(walltime, bool) or not isinstance(walltime, int) or not 0 < walltime <= MAX_WALLTIME
    ):
        raise ApiError(400, f"walltime must be a positive number of seconds, at most {MAX_WALLTIME}")
    return {
        "request": resources,
        "types": types,
        "walltime": walltime,
        "name": body.get("name", ""),
        "properties": body.get("properties", ""),
        "grid": _grid_field(body),
    }


def _grid_field(body: dict[str, Any]) -> int | None:
    """The grid reservation (opened at its home site's server) this job is a part of (``oargridsub``)."""
    if "grid" not in body:
        return None
    grid = body["grid"]
    if isinstance(grid, bool) or not isinstance(grid, int) or not 0 < grid < 10**12:
        raise ApiError(400, "grid must be the number of a grid reservation")
    return grid


async def submit_job(request: web.Request) -> web.Response:
    state, site, root = state_of(request), params.site(request), params.base(request)
    ident = identity(request)
    wanted = _job_request(await params.json_body(request))
    async with state.audit.audited(ident, "job.submit", site=site, request=wanted["request"]) as entry:
        job = await state.service.submit(**wanted, user=ident.user, site=site)
        vlans = [vlan_label(v.vlan) for v in job.vlans]
        entry.after = {"job": job.id, "nodes": list(job.nodes), "vlans": vlans}
        entry.result = {"status": 201}
    location = {"Location": f"{root}/sites/{site}/jobs/{job.id}"}
    return web.json_response(job_item(state.inventory, site, job, root), status=201, headers=location)


async def delete_job(request: web.Request) -> web.Response:
    """As g5k-api: 202, no body, the job's ``Location`` (the job, now ended, is read there)."""
    state, site = state_of(request), params.site(request)
    ident = identity(request)
    job = await _site_job(state, site, request.match_info["job"])
    if not job.running:
        raise ApiError(404, ALREADY_KILLED.format(job=job.id, state=job.state.value.lower()), NotFound)
    before = job.state.value
    async with state.audit.audited(ident, "job.delete", before=before, site=site, job=job.id) as entry:
        done = await state.service.delete_job(job.id, user=ident.user)
        entry.after = done.state.value
        entry.result = {"status": 202}
    location = f"{params.base(request)}/sites/{site}/jobs/{job.id}"
    return web.Response(status=202, headers={"Location": location})
