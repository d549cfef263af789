"""Benchmark: a deployment into a VLAN of 2 and of 4 lab nodes (``kavlan-kadeploy3 -k --vlan N``), by stage, beside
the tutorial's manual way in the same lab and the same run; and EnOSlib's whole init/destroy cycle.

Run on demand, as root (it builds a lab of its own and removes it):
  python tests/bench/bench_deploy.py [--runs N] [--enoslib VENV_PYTHON]

- ours: ``kavlan-kadeploy3 -e debian12-min -f NODEFILE -k KEY --vlan N``, its report's stages (the key installed
  over SSH, the VLAN's DHCP started, the ports switched, each node's network restarted from its console, the wait
  until each answers from the VLAN) and the whole command, process included;
- the manual way: ``kavlan -e``, ``kavlan -s``, each node's network restarted from its console (what kadeploy's
  reboot does), then polling until every in-VLAN name answers a ping;
- with ``--enoslib``: examples/enoslib_kavlan.py against kavlan-api in the lab (two nodes): ``provider.init()``
  (reserve, deploy into the VLAN, wait for the nodes) and ``provider.destroy()`` (the job's end brings them home).
Each run reserves afresh and ends its job (the nodes go back to DEFAULT) before the next.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_staged import all_answer, run

from kavlan_core.lab.builder import Lab

SITE = "sophia"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchDeployKeyOnly bench@deploy"


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def reserve(lab: Lab, count: int) -> tuple[int, int, list[str]]:
    per = {2: "{\"cluster='suno'\"}/nodes=2", 4: "{\"cluster='suno'\"}/nodes=2+{\"cluster='uvb'\"}/nodes=2"}[
        count
    ]
    job = json.loads(run(lab, tool("kavlan-oarsub"), "-l", "{\"type='kavlan'\"}/vlan=1," + per, "--json"))
    vlan = int(run(lab, tool("kavlan"), "-V", "-j", str(job["uid"])).strip())
    return job["uid"], vlan, [n.split(".")[0] for n in job["assigned_nodes"]]


def end(lab: Lab, job: int) -> None:
    run(lab, tool("kavlan-oardel"), str(job), timeout=600)


def ours(lab: Lab, count: int, tmp: Path) -> dict[str, float]:
    job, vlan, nodes = reserve(lab, count)
    nodefile, key = tmp / "nodes", tmp / "key.pub"
    nodefile.write_text("".join(f"{n}.{SITE}.grid5000.fr\n" for n in nodes))
    key.write_text(KEY + "\n")
    t0 = time.perf_counter()
    out = run(lab, tool("kavlan-kadeploy3"), "-e", "debian12-min", "-f", str(nodefile), "-k", str(key),
              "--vlan", str(vlan), "--json", timeout=600)  # fmt: skip
    total = time.perf_counter() - t0
    report = json.loads(out)
    assert all(n["status"] == "success" for n in report["staged"]["nodes"]), report
    end(lab, job)
    return {**{k: float(v) for k, v in report["staged"]["stages"].items()}, "whole command": total}


def manual(lab: Lab, count: int) -> dict[str, float]:
    job, vlan, nodes = reserve(lab, count)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    run(lab, tool("kavlan"), "-e", "-j", str(job))
    times["kavlan -e"] = time.perf_counter() - t0
    t = time.perf_counter()
    run(lab, tool("kavlan"), "-s", "-j", str(job))
    times["kavlan -s"] = time.perf_counter() - t
    t = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kavlan_tui.lab",
                "exec",
                "--state-dir",
                str(lab.dir),
                "--host",
                n,
                "--",
                "/etc/init.d/networking",
                "restart",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for n in nodes
    ]
    for p in procs:
        p.wait(timeout=120)
    times["console restarts"] = time.perf_counter() - t
    t = time.perf_counter()
    waiting = [f"{n}-kavlan-{vlan}" for n in nodes]
    deadline = time.monotonic() + 120
    while not all_answer(lab, waiting):  # one process for every node, as the staged move's bench does
        assert time.monotonic() < deadline, f"not every node back: {waiting}"
    times["wait for pings"] = time.perf_counter() - t
    times["whole"] = time.perf_counter() - t0
    end(lab, job)
    return times


def enoslib_cycle(lab: Lab, python: str, tmp: Path) -> dict[str, float]:
    users, password, home = tmp / "users", tmp / "password", tmp / f"home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    password.write_text("bench-password-1\n")
    subprocess.run([sys.executable, "-m", "kavlan_core.api.server", "passwd", str(users), "root"],
                   input="bench-password-1\n", text=True, check=True, capture_output=True, timeout=30)  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "kavlan_tui.lab", "exec", "--state-dir", str(lab.dir), "--", tool("kavlan-api"),
         "serve", "--listen", "127.0.0.1:0", "--insecure-http", "--users-file", str(users)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        url = line[line.index("http://") :].split()[0].rstrip("/")
        example = Path(__file__).resolve().parents[2] / "examples" / "enoslib_kavlan.py"
        t0 = time.perf_counter()
        out = run(lab, "env", f"HOME={home}", f"ANSIBLE_PYTHON_INTERPRETER={Path(sys.executable).resolve()}",
                  python, str(example), "--api", url, "--user", "root", "--password-file", str(password),
                  "--key", str(lab.dir / "ssh" / "id_ed25519.pub"), timeout=900)  # fmt: skip
        whole = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=40)
    summary = json.loads(out.strip().splitlines()[-1])
    return {"init": summary["init_seconds"], "destroy": summary["destroy_seconds"], "whole script": whole}


def median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows if k in r) for k in rows[0]}


def show(title: str, figures: dict[str, float]) -> None:
    print(f"{title}: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures.items()))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--enoslib", metavar="VENV_PYTHON", help="EnOSlib's interpreter (its own virtualenv)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        lab = Lab(Path(tmp) / "state", prefix=f"kb{uuid.uuid4().hex[:5]}-")
        try:
            lab.up()
            for count in (2, 4):
                rows_ours, rows_manual = [], []
                for _ in range(args.runs):  # taking turns: the same lab, the same load
                    rows_ours.append(ours(lab, count, Path(tmp)))
                    rows_manual.append(manual(lab, count))
                show(f"kavlan-kadeploy3 --vlan, {count} nodes (median of {args.runs})", median(rows_ours))
                show(
                    f"manual: kavlan -e, kavlan -s, console restart, ping, {count} nodes", median(rows_manual)
                )
            if args.enoslib:
                rows = [enoslib_cycle(lab, args.enoslib, Path(tmp)) for _ in range(args.runs)]
                show(f"EnOSlib init/destroy, 2 nodes (median of {args.runs})", median(rows))
        finally:
            lab.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
