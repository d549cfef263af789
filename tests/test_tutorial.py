"""The tutorial's first and second parts, replayed on the demo testbed through the real console scripts."""

from __future__ import annotations

import subprocess

PART1 = r"""
set -e
echo "JOB=$OAR_JOB_ID"
echo "VLAN=$(kavlan -V)"
echo "VLAN_OUTSIDE=$(env -u OAR_JOB_ID kavlan -V -j $OAR_JOB_ID)"
kavlan -e
kavlan -s -f $OAR_NODEFILE
echo "SET_RC=$?"
kavlan -g -f $OAR_NODEFILE | sed 's/^/GET /'
kavlan -l | tee nodefile | sed 's/^/LIST /'
echo "NODEFILE_LINES=$(wc -l < $OAR_NODEFILE)"
kavlan -s -i DEFAULT -f $OAR_NODEFILE
kavlan -g -f $OAR_NODEFILE | sed 's/^/BACK /'
kavlan -d
"""

PART2 = r"""
set -e
kavlan -V > myvlan
echo "MYVLAN=$(cat myvlan)"
kavlan-oarsub -t deploy -l nodes=2 -I <<'INNER'
set -e
echo "INNER_JOB=$OAR_JOB_ID"
kavlan -i `cat myvlan` -s -f $OAR_FILE_NODES
kavlan -g -f $OAR_FILE_NODES | sed 's/^/IN /'
uniq $OAR_NODEFILE > mynodes
sed "s/\([^.]*\)\(.*\)/\1-kavlan-`cat myvlan`\2/" mynodes > mynodes-vlan
kavlan -s -i DEFAULT -f $OAR_NODEFILE
kavlan -g -f $OAR_FILE_NODES | sed 's/^/OUT /'
cat mynodes-vlan | sed 's/^/VLANNAME /'
INNER
"""


def run_job(request: str, script: str, env: dict[str, str], cwd) -> str:
    proc = subprocess.run(
        ["kavlan-oarsub", "-t", "deploy", "-l", request, "-I"],
        input=script,
        env={**env, "SHELL": "/bin/bash"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Interactive mode: waiting..." in proc.stderr
    return proc.stdout


def values(out: str, key: str) -> list[str]:
    return [line.split(key, 1)[1] for line in out.splitlines() if line.startswith(key)]


def test_part_one_routed_vlan(kenv, tmp_path):
    out = run_job("{\"type='kavlan'\"}/vlan=1,{\"cluster='suno'\"}/nodes=3", PART1, kenv, tmp_path)
    (job,) = values(out, "JOB=")
    assert out.startswith(f"OAR_JOB_ID={job}\n")
    (vlan,) = values(out, "VLAN=")
    assert 4 <= int(vlan) <= 9, "a routed VLAN is in 4-9"
    assert values(out, "VLAN_OUTSIDE=") == [vlan]
    assert values(out, "NODEFILE_LINES=") == ["24"], "3 suno nodes of 8 cores each"
    nodes = [f"suno-{i}.sophia.grid5000.fr" for i in (1, 2, 3)]
    assert values(out, "GET ") == [f"{n}: {vlan}" for n in nodes]
    assert values(out, "LIST ") == [n.replace(".sophia", f"-kavlan-{vlan}.sophia") for n in nodes]
    assert (tmp_path / "nodefile").read_text().split() == values(out, "LIST ")
    assert values(out, "BACK ") == [f"{n}: DEFAULT" for n in nodes]
    # the job ended with its shell
    stat = subprocess.run(
        ["kavlan-oarstat", "-s", "-j", job], env=kenv, capture_output=True, text=True, check=True
    )
    assert stat.stdout == f"{job}: Terminated\n"


def test_part_two_local_vlan_and_nodes_in_two_jobs(kenv, tmp_path):
    out = run_job("{\"type='kavlan-local'\"}/vlan=1,walltime=2", PART2, kenv, tmp_path)
    (vlan,) = values(out, "MYVLAN=")
    assert 1 <= int(vlan) <= 3, "a local VLAN is in 1-3"
    moved = values(out, "IN ")
    assert len(moved) == 2 and all(line.endswith(f": {vlan}") for line in moved)
    assert [line.split(":")[0] for line in values(out, "OUT ")] == [line.split(":")[0] for line in moved]
    assert all(line.endswith(": DEFAULT") for line in values(out, "OUT "))
    assert values(out, "VLANNAME ") == [
        line.split(":")[0].replace(".sophia", f"-kavlan-{vlan}.sophia") for line in moved
    ]
