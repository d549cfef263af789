"""Grid reservations: oargridsub's syntax read into one request per site, hostile input refused in one sentence
with nothing reserved, and the core's all-or-nothing reservation, the grid's record and its end."""

from __future__ import annotations

from pathlib import Path

import hypothesis
import hypothesis.strategies as st
import pytest
from test_cli_corpus import HOSTILE, SETTINGS, invoke, judge, snapshot

from conftest import run
from kavlan_core import inventory
from kavlan_core.errors import BadInput, NotAllowed, NotFound, Unavailable
from kavlan_core.grids import GridRequest, parse_grid
from kavlan_core.model import JobState
from kavlan_core.reservations import RequestError
from kavlan_tui import oar, oargrid

INV = inventory.load(None)
FEWER = hypothesis.settings(SETTINGS, max_examples=40)
"""The quick layer's share: 40 command lines each (the parser alone takes SETTINGS' 80)."""
TUTORIAL = "sophia:rdef={\"type='kavlan-global'\"}/vlan=1+/nodes=2,lille:rdef=/nodes=2,lyon:rdef=/nodes=2"


def test_the_tutorials_line_as_a_shell_passes_it():
    parts = parse_grid([TUTORIAL], INV)
    assert parts == [
        GridRequest("sophia", "{\"type='kavlan-global'\"}/vlan=1+/nodes=2"),
        GridRequest("lille", "/nodes=2"),
        GridRequest("lyon", "/nodes=2"),
    ]
    # once more escaped (the line passed through a second shell, as on Grid'5000's frontends), or quoted
    escaped = TUTORIAL.replace('"', '\\"')
    assert parse_grid([escaped], INV) == parts
    quoted = "sophia:rdef=\"{\\\"type='kavlan-global'\\\"}/vlan=1+/nodes=2\",lille:rdef='/nodes=2',lyon:rdef=/nodes=2"
    assert parse_grid([quoted], INV) == parts
    # several arguments are joined by commas, as oargridsub reads them
    assert parse_grid(TUTORIAL.split(","), INV) == parts


def test_a_part_named_by_a_cluster_and_fields():
    (part,) = parse_grid(['chetemi:rdef="/nodes=2,/nodes=1":prop="host!=\'x\'":type=deploy:name=exp'], INV)
    assert part == GridRequest(
        "lille", "/nodes=2,/nodes=1", "cluster='chetemi' and host!='x'", ("deploy",), "exp"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no part given"),
        ("sophia", "cannot read the part"),
        ("mars:rdef=/nodes=1", "unknown site or cluster 'mars'"),
        ("sophia:rdef=", "has no resources"),
        ("sophia:prop=x", "has no resources"),
        ("sophia:rdef=/nodes=1,sophia:rdef=/nodes=2", "named twice"),
        ("sophia:rdef=/nodes=1,walltime=2", "gives a walltime"),
        ("sophia:rdef={\"site='lille'\"}/nodes=1", "names another site"),
        ("sophia:rdef=/nodes=zero", "the part for sophia: bad count"),
        ("sophia:rdef={\"cluster='suno'\"/nodes=1", "unbalanced"),
        ("sophia:rdef=}/nodes=1", "closing brace"),
        ("sophia:rdef=/nodes=1:rdef=/nodes=2", "rdef= twice"),
        ("sophia:rdef=/no\x1bdes=1", "control characters"),
        ("x" * 20000, "at most"),
    ],
)
def test_bad_grid_requests(text, message):
    with pytest.raises(RequestError, match=message):
        parse_grid([text], INV)


PIECES = st.sampled_from(
    [
        "sophia:",
        "lille:",
        "lyon:",
        "suno:",
        "mars:",
        "rdef=",
        "prop=",
        "type=",
        "/nodes=2",
        "/nodes=999",
        "/vlan=1",
        "{\"type='kavlan-global'\"}",
        "{\"type='kavlan'\"}",
        "{\"site='lille'\"}",
        "+",
        ",",
        ":",
        '"',
        "'",
        "\\",
        "{",
        "}",
        "walltime=1",
        "nodes=ALL",
    ]
)
GRID_TEXT = st.one_of(st.lists(PIECES, max_size=12).map("".join), HOSTILE)


@SETTINGS
@hypothesis.given(text=GRID_TEXT)
def test_the_parser_reads_or_refuses_in_one_sentence(text: str) -> None:
    try:
        parts = parse_grid([text], INV)
    except RequestError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert parts and len({p.site for p in parts}) == len(parts)


@pytest.fixture
def place(kenv: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo testbed in this test's data dir, with a running job of bob's holding sophia's global VLAN's
    neighbours' nodes (so that some requests cannot be served)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAVLAN_USER", "bob")
    assert invoke(oar.oarsub_main, ["-l", "{\"type='kavlan-global'\"}/vlan=1+/nodes=2"]).status == 0
    monkeypatch.setenv("KAVLAN_USER", "alice")
    return Path(kenv["KAVLAN_DATA_DIR"])


@FEWER
@hypothesis.given(
    parts=st.lists(GRID_TEXT, min_size=1, max_size=3),
    options=st.lists(
        st.sampled_from(
            ["-w", "2:00:00", "-w", "0", "-t", "deploy", "-q", "besteffort", "--json", "-v", "--bogus"]
        ),
        max_size=4,
    ),
)
def test_oargridsub_hostile_refused_in_one_sentence_with_nothing_reserved(
    place: Path, parts: list[str], options: list[str]
) -> None:
    before = snapshot(place)
    run = invoke(oargrid.oargridsub_main, [*options, *parts])
    judge("kavlan-oargridsub", run, before, snapshot(place))
    if run.status == 1:
        assert len(run.err.strip().splitlines()) == 1, run.err
    if run.status == 0:  # what was reserved is released for the next example
        grid = run.out.split("Grid reservation id = ")[1].split()[0] if "Grid" in run.out else None
        if grid is not None:
            assert invoke(oargrid.oargriddel_main, [grid]).status == 0


# --- the core ---------------------------------------------------------------------------------------------


def test_a_grid_is_reserved_all_or_nothing_and_ends_together(make_service):
    run(_a_grid_is_reserved_all_or_nothing_and_ends_together(make_service))


async def _a_grid_is_reserved_all_or_nothing_and_ends_together(make_service):
    svc = make_service(user="alice")  # the small testbed: sophia (suno-1..8) and lille (chetemi-1..4)
    line = "sophia:rdef={\"type='kavlan-global'\"}/vlan=1+/nodes=2,lille:rdef=/nodes=2"
    grid = await svc.grid_submit(parse_grid([line], svc.inventory), types=["deploy"], walltime=7200)
    assert [p.site for p in grid.parts] == ["sophia", "lille"]
    assert [len(p.job.nodes) for p in grid.parts] == [2, 2]
    assert len(grid.vlans) == 1 and all(p.job.grid == grid.id for p in grid.parts)
    assert {p.job.walltime for p in grid.parts} == {7200} and len({p.job.started for p in grid.parts}) == 1
    for part in grid.parts:
        assert {svc.inventory.nodes[n].site for n in part.job.nodes} == {part.site}
    # a second grid: lille has 2 nodes left, sophia's global VLAN is held: nothing of it stays
    before = await svc.jobs()
    with pytest.raises(
        Unavailable, match="^sophia cannot serve its part, nothing was reserved: no free kavlan-global"
    ):
        await svc.grid_submit(parse_grid(["lille:rdef=/nodes=1," + line.split(",")[0]], svc.inventory))
    with pytest.raises(
        Unavailable, match="^lille cannot serve its part, nothing was reserved: not enough free"
    ):
        await svc.grid_submit(parse_grid(["sophia:rdef=/nodes=1,lille:rdef=/nodes=3"], svc.inventory))
    assert await svc.jobs() == before
    # every job of it ends, together; a second deletion is refused
    other = make_service(user="bob")
    with pytest.raises(NotAllowed, match="belongs to alice"):
        await other.grid_delete(grid.id)
    done = await svc.grid_delete(grid.id)
    assert all(p.job.state is JobState.TERMINATED for p in done.parts) and not done.running
    with pytest.raises(NotFound, match="already ended"):
        await svc.grid_delete(grid.id)
    with pytest.raises(NotFound, match="grid reservation 99 does not exist"):
        await svc.grid(99)


def test_a_grid_record_kept_for_remote_parts(make_service):
    run(_a_grid_record_kept_for_remote_parts(make_service))


async def _a_grid_record_kept_for_remote_parts(make_service):
    """What a home server keeps when each part is reserved at its site's server: a number, then the parts."""
    svc = make_service(user="alice")
    grid_id = await svc.open_grid(3600)
    job = await svc.submit("/nodes=1", site="lille", grid=grid_id)
    assert job.grid == grid_id
    with pytest.raises(NotAllowed, match="belongs to alice"):
        await make_service(user="bob").submit("/nodes=1", grid=grid_id)
    from kavlan_core.model import GridRef

    with pytest.raises(NotAllowed):
        await make_service(user="bob").add_grid_parts(grid_id, [GridRef("lille", job.id)])
    record = await svc.add_grid_parts(grid_id, [GridRef("lille", job.id)])
    assert record.jobs == (GridRef("lille", job.id),)
    with pytest.raises(BadInput, match="already has its jobs"):
        await svc.drop_grid(grid_id)
    with pytest.raises(BadInput, match="cannot join it"):
        await svc.submit("/nodes=1", grid=grid_id)
    empty = await svc.open_grid(60)
    await svc.drop_grid(empty)
    with pytest.raises(NotFound):
        await svc.grid_record(empty)


def test_a_cluster_alone_finds_its_site(make_service):
    run(_a_cluster_alone_finds_its_site(make_service))


async def _a_cluster_alone_finds_its_site(make_service):
    svc = make_service(user="alice")  # this frontend is sophia's
    job = await svc.submit("{\"cluster='chetemi'\"}/nodes=1")
    assert svc.inventory.nodes[job.nodes[0]].site == "lille"
    plain = await svc.submit("/nodes=1")
    assert svc.inventory.nodes[plain.nodes[0]].site == "sophia", "no place named: the frontend's site"


def test_the_repl_reserves_shows_and_deletes_a_grid(make_service):
    run(_the_repl_reserves_shows_and_deletes_a_grid(make_service))


async def _the_repl_reserves_shows_and_deletes_a_grid(make_service):
    from kavlan_tui.commands import REGISTRY, Context

    ctx = Context(make_service(user="alice"))
    line = 'gridsub sophia:rdef="{\\"type=\'kavlan-global\'\\"}/vlan=1+/nodes=1" lille:rdef=/nodes=2 walltime=1:00'
    made = await REGISTRY.run(ctx, line)
    assert made.lines[0] == "Grid reservation id = 1" and ctx.grid_id == 1
    assert [line.split()[0] for line in made.lines[1:]] == ["sophia", "lille"]
    assert (await REGISTRY.run(ctx, "vlan")).lines == ["18"], "the current job holds the global VLAN"
    nodes = [n for job in made.data["jobs"] for n in job["nodes"]]
    assert (await REGISTRY.run(ctx, f"set 18 {' '.join(nodes)}")).ok
    assert sorted((await REGISTRY.run(ctx, "nodes 18")).lines) == sorted(
        ctx.service.inventory.hostname(ctx.service.inventory.resolve(n), 18) for n in nodes
    )
    shown = await REGISTRY.run(ctx, "gridstat")
    assert shown.lines[0].startswith("grid 1 of alice (Running), walltime 1:00:00")
    with pytest.raises(BadInput, match="unknown site or cluster 'mars'"):
        await REGISTRY.run(ctx, "gridsub mars:rdef=/nodes=1")
    gone = await REGISTRY.run(ctx, "griddel")
    assert gone.lines == ["grid 1 deleted: its 2 job(s) ended, their nodes are back in DEFAULT"]
    assert ctx.job_id is None
    assert (await REGISTRY.run(ctx, f"get {' '.join(nodes)}")).lines == [
        f"{ctx.service.inventory.hostname(ctx.service.inventory.resolve(n), 0)}: DEFAULT" for n in nodes
    ]


@FEWER
@hypothesis.given(
    argv=st.lists(
        st.one_of(
            st.sampled_from(["1", "2", "0", "x", "-l", "-w", "-c", "lille", "mars", "--json"]), HOSTILE
        ),
        max_size=4,
    ),
    which=st.sampled_from(["stat", "del"]),
)
def test_oargridstat_and_oargriddel_hostile(place: Path, argv: list[str], which: str) -> None:
    main = oargrid.oargridstat_main if which == "stat" else oargrid.oargriddel_main
    before = snapshot(place)
    run = invoke(main, argv)
    judge(f"kavlan-oargrid{which}", run, before, snapshot(place))
