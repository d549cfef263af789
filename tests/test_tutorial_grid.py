"""The tutorial's "Use a global VLAN" section, replayed on the demo testbed through the real console scripts:
oargridsub with the tutorial's line, its id and key taken with the tutorial's own grep/cut pipelines, oargridstat's
node list into ~/gridnodes, every node of three sites moved into sophia's global VLAN and back, the grid deleted."""

from __future__ import annotations

import subprocess
from pathlib import Path

# the tutorial's lines, as a user types them in bash (kadeploy3 aside: kavlan -s moves the nodes instead)
GLOBAL_VLAN = r"""
set -e
oargridsub -t deploy -w 2:00:00 sophia:rdef="{\"type='kavlan-global'\"}/vlan=1+/nodes=2",lille:rdef=/nodes=2,lyon:rdef=/nodes=2 > oargrid.out
export OAR_JOB_KEY_FILE=`grep "SSH KEY" oargrid.out | cut -f2 -d: | tr -d " "`
export OARGRID_JOB_ID=`grep "Grid reservation id" oargrid.out | cut -f2 -d= | cut -d ' ' -f2`
echo "KEY=$OAR_JOB_KEY_FILE"
echo "GRID=$OARGRID_JOB_ID"
oargridstat -w -l $OARGRID_JOB_ID | grep grid> ~/gridnodes
VLAN=$(oargridstat $OARGRID_JOB_ID | awk '/-->/ && /vlans = [0-9]/ { sub(/@.*/, "", $NF); print $NF }')
echo "VLAN=$VLAN"
kavlan -s -i $VLAN -f ~/gridnodes
kavlan -g -f ~/gridnodes | sed 's/^/IN /'
kavlan -l -i $VLAN | sed 's/^/LIST /'
SOPHIA_JOB=`grep "\[sophia\]" oargrid.out | cut -d= -f2 | tr -d " "`
LYON_JOB=`grep "\[lyon\]" oargrid.out | cut -d= -f2 | tr -d " "`
kavlan -l -j $SOPHIA_JOB | sed 's/^/JOBLIST /'
kavlan -g -j $LYON_JOB | sed 's/^/JOBGET /'
kavlan -s -i DEFAULT -f ~/gridnodes
kavlan -g -f ~/gridnodes | sed 's/^/OUT /'
oargriddel $OARGRID_JOB_ID
kavlan-oarstat -a | sed 's/^/STAT /'
"""

SITES = {"sophia", "lille", "lyon"}


def values(out: str, key: str) -> list[str]:
    return [line.split(key, 1)[1] for line in out.splitlines() if line.startswith(key)]


def aliases(tmp_path) -> str:
    """The original names on PATH, as a frontend has them: oargridsub is kavlan-oargridsub."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("oargridsub", "oargridstat", "oargriddel"):
        link = bin_dir / name
        link.write_text(f'#!/bin/sh\nexec kavlan-{name} "$@"\n')
        link.chmod(0o755)
    return str(bin_dir)


def test_the_tutorials_global_vlan_section(kenv, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**kenv, "HOME": str(home), "PATH": f"{aliases(tmp_path)}:{kenv['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", GLOBAL_VLAN], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    grid_out = (tmp_path / "oargrid.out").read_text()
    (grid,) = values(out, "GRID=")
    assert f"[OAR_GRIDSUB] Grid reservation id = {grid}\n" in grid_out
    (key,) = values(out, "KEY=")
    assert ":" not in key
    assert Path(key).read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert values(out, "VLAN=") == ["18"], "sophia's global VLAN"
    nodes = (home / "gridnodes").read_text().split()
    unique = list(dict.fromkeys(nodes))
    assert len(unique) == 6 and {n.split(".")[1] for n in unique} == SITES, unique
    assert values(out, "IN ") == [f"{n}: 18" for n in unique]
    assert sorted(values(out, "LIST ")) == sorted(n.replace(".", "-kavlan-18.", 1) for n in unique)
    # a site's part of the grid stands for the grid: -l -j and -g -j agree with -l -i
    assert sorted(values(out, "JOBLIST ")) == sorted(values(out, "LIST "))
    assert values(out, "JOBGET ") == values(out, "IN ")
    assert values(out, "OUT ") == [f"{n}: DEFAULT" for n in unique]
    stat = values(out, "STAT ")
    parts = [line.split() for line in stat[2:]]
    assert {p[-2] for p in parts} == SITES and {p[-1] for p in parts} == {grid}
    assert all(p[4] == "T" for p in parts), "the grid's jobs ended together"


def test_a_site_that_cannot_serve_leaves_nothing_reserved(kenv, tmp_path):
    proc = subprocess.run(
        ["kavlan-oargridsub", "-w", "1", "sophia:rdef=/nodes=2,lille:rdef=/nodes=999"],
        env=kenv,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("kavlan-oargridsub: lille cannot serve its part, nothing was reserved: ")
    assert len(proc.stderr.splitlines()) == 1
    stat = subprocess.run(
        ["kavlan-oarstat", "-a", "--json"], env=kenv, capture_output=True, text=True, timeout=60
    )
    assert stat.returncode == 0 and stat.stdout.strip() == "{}", "no job stayed reserved"


def test_oargridstat_and_oargriddel_refuse_in_one_sentence(kenv):
    for argv in (["kavlan-oargridstat", "7"], ["kavlan-oargriddel", "7"], ["kavlan-oargridstat", "x1"]):
        proc = subprocess.run(argv, env=kenv, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


# the section's kadeploy3 line; the tutorial's own `-a -k` names no environment file (kadeploy3's -a takes one)
GLOBAL_DEPLOY = r"""
set -e
oargridsub -t deploy -w 2:00:00 sophia:rdef="{\"type='kavlan-global'\"}/vlan=1+/nodes=2",lille:rdef=/nodes=2,lyon:rdef=/nodes=2 > oargrid.out
export OARGRID_JOB_ID=`grep "Grid reservation id" oargrid.out | cut -f2 -d= | cut -d ' ' -f2`
oargridstat -w -l $OARGRID_JOB_ID | grep grid> ~/gridnodes
if kadeploy3 -f gridnodes -a -k --multi-server -o ~/nodes.deployed --vlan 18 2> literal.err; then exit 3; fi
kadeploy3 -f gridnodes -a ~/env.yaml -k --multi-server -o ~/nodes.deployed --vlan 18
kavlan -g -f ~/gridnodes | sed 's/^/IN /'
oargriddel $OARGRID_JOB_ID
"""


def test_the_sections_kadeploy3_line_leaves_every_site_in_the_global_vlan(kenv, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").write_text(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKey user@frontend\n"
    )
    (home / "env.yaml").write_text("---\nname: debian12-big\nversion: 2024\n")
    bin_dir = Path(aliases(tmp_path))
    (bin_dir / "kadeploy3").write_text('#!/bin/sh\nexec kavlan-kadeploy3 "$@"\n')
    (bin_dir / "kadeploy3").chmod(0o755)
    env = {**kenv, "HOME": str(home), "PATH": f"{bin_dir}:{kenv['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", GLOBAL_DEPLOY], env=env, cwd=home, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    literal = (home / "literal.err").read_text()
    assert literal.count("\n") == 1 and "-a/--env-file" in literal, literal
    assert "environment debian12-big is not installed" in proc.stdout
    deployed = (home / "nodes.deployed").read_text().split()
    assert {n.split(".")[1] for n in deployed} == SITES and len(deployed) == 6
    assert values(proc.stdout, "IN ") == [f"{n}: 18" for n in deployed]
