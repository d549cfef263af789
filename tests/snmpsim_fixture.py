"""snmpsim on 127.0.0.1 serving switch recordings (LibreNMS test data in ``shared/snmprec/``), and writable copies
of them, for the SNMP drivers' tests.

The recordings stay beside the checkout (GPL-3.0 test data: never copied into the project): the responder reads
``shared/snmprec/`` itself, where each file is served under the community named after its path (``vrp_5720`` of
the corpus is ``corpus/vrp_5720``). A writable copy is written to a temporary directory, its writable lines
under a writecache variation of its own: snmpsim's writecache keeps one cache per module instance, keyed by OID
alone, so two recordings sharing one instance would see each other's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pysnmp.hlapi.v3arch import asyncio as hlapi
from snmpd_fixture import _get_packet, free_udp_port, log_tail, stop_process

from kavlan_core.drivers.base import SwitchDriver, driver_class
from kavlan_core.drivers.snmp_session import shared_mib_view
from kavlan_core.model import Switch

T = TypeVar("T")

SHARED = Path(__file__).parents[2] / "shared" / "snmprec"
CORPUS = SHARED / "corpus"
RESPONDER = shutil.which("snmpsim-command-responder")
STARTUP_SECONDS = 60.0  # the first start indexes every recording (about 8 MB)

needs_snmpsim = [
    pytest.mark.skipif(not SHARED.is_dir(), reason=f"the switch recordings are not at {SHARED}"),
    pytest.mark.skipif(
        RESPONDER is None or importlib.util.find_spec("pysmi") is None,
        reason="snmpsim is not installed (pip install snmpsim pysmi)",
    ),
    # pysnmp calls pysmi's deprecated camelCase names when pysmi is installed: not ours to fix
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler"),
]


def run(coro: Coroutine[Any, Any, T], seconds: float = 20.0) -> T:
    """Run one driver conversation, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, seconds)

    return asyncio.run(bounded())


def community_of(path: Path) -> str:
    """The community snmpsim serves a recording of ``shared/snmprec/`` under: its path there, without .snmprec."""
    return path.relative_to(SHARED).with_suffix("").as_posix()


@dataclass
class Sim:
    """One snmpsim responder serving data directories: every file under the community named after its path."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def switch(self, community: str, driver: str = "snmp_qbridge", **options: Any) -> Switch:
        """The inventory's Switch for a recording; short timeouts, so a failure shows quickly."""
        opts: dict[str, Any] = {"timeout": 2.0, "retries": 0, **options}
        return Switch(
            name=community,
            site="lab",
            driver=driver,
            address=f"127.0.0.1:{self.port}",
            credentials=community,
            options=opts,
        )

    def driver(self, community: str, driver: str = "snmp_qbridge", **options: Any) -> SwitchDriver:
        switch = self.switch(community, driver, **options)
        return driver_class(switch.driver)(switch, {"version": "2c", "community": community})

    async def get(self, community: str, *oids: tuple[int, ...]) -> list[Any]:
        """Values straight from the responder, with pysnmp and nothing of the drivers' own code (one GET per
        OID: some values are several KB)."""
        engine = hlapi.SnmpEngine()
        engine.cache["mibViewController"] = shared_mib_view()
        try:
            target = await hlapi.UdpTransportTarget.create(("127.0.0.1", self.port), timeout=5, retries=1)
            out = []
            for oid in oids:
                indication, status, _, varbinds = await hlapi.get_cmd(
                    engine,
                    hlapi.CommunityData(community, mpModel=1),
                    target,
                    hlapi.ContextData(),
                    hlapi.ObjectType(hlapi.ObjectIdentity(oid)),
                    lookupMib=False,
                )
                assert not indication and not int(status), (community, oid, indication, status)
                out.append(varbinds[0][1])
            return out
        finally:
            engine.close_dispatcher()

    async def set(self, community: str, oid: tuple[int, ...], octets: bytes) -> None:
        """Write one OCTET STRING straight to the responder (a writecache line), as another manager would."""
        engine = hlapi.SnmpEngine()
        engine.cache["mibViewController"] = shared_mib_view()
        try:
            target = await hlapi.UdpTransportTarget.create(("127.0.0.1", self.port), timeout=5, retries=1)
            indication, status, _, varbinds = await hlapi.set_cmd(
                engine,
                hlapi.CommunityData(community, mpModel=1),
                target,
                hlapi.ContextData(),
                hlapi.ObjectType(hlapi.ObjectIdentity(oid), hlapi.OctetString(octets)),
                lookupMib=False,
            )
            assert not indication and not int(status), (community, oid, indication, status)
            assert bytes(varbinds[0][1].asOctets()) == octets, "the line is not writable"
        finally:
            engine.close_dispatcher()

    def log(self) -> str:
        return log_tail(self.log_path)

    def stop(self) -> None:
        """Stop this responder, by its pid."""
        stop_process(self.process)


# --- writable copies -----------------------------------------------------------------------------------------


def line_oid(line: str) -> tuple[int, ...]:
    return tuple(int(x) for x in line.split("|", 1)[0].split("."))


def oid_text(oid: Sequence[int]) -> str:
    return ".".join(str(x) for x in oid)


def writable(line: str, variation: str = "writecache") -> str:
    """A recording line as a writecache line with the same value (hex values stay hex)."""
    oid, tag, value = line.split("|", 2)
    if tag.endswith("x"):
        return f"{oid}|{tag[:-1]}:{variation}|hexvalue={value}"
    if tag == "4" and value:  # printable octets: writecache's value= would read them as text, as snmpsim does
        return f"{oid}|4:{variation}|hexvalue={value.encode('iso-8859-1').hex().upper()}"
    return f"{oid}|{tag}:{variation}|value={value}"


def recording_lines(path: Path) -> list[str]:
    """A recording's lines as snmpsim reads them (stripped, CR included)."""
    text = path.read_bytes().decode("iso-8859-1")
    return [line.strip() for line in text.split("\n") if line.strip()]


def write_recording(path: Path, lines: Iterable[str]) -> None:
    """A recording file, in OID order: snmpsim finds GETNEXT answers by bisecting the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(sorted(lines, key=line_oid)) + "\n"
    path.write_bytes(text.encode("iso-8859-1"))


# --- the responder ---------------------------------------------------------------------------------------------


def _answers(port: int, community: str, deadline: float) -> bool:
    """Whether the responder answers a v2c GET of sysDescr.0 for ``community``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.25)
        s.connect(("127.0.0.1", port))
        for attempt in range(1, 10000):  # bounded by the count and by the deadline
            if time.monotonic() > deadline:
                return False
            try:
                s.send(_get_packet(community, "1.3.6.1.2.1.1.1.0", attempt))
                reply = s.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                time.sleep(0.05)  # the responder is still indexing: poll its socket, bounded by the deadline
                continue
            return not reply.endswith((b"\x80\x00", b"\x81\x00", b"\x82\x00"))
    return False


@contextlib.contextmanager
def running_snmpsim(
    workdir: Path, data_dirs: Sequence[Path], *, variations: Sequence[str] = (), probe: str
) -> Iterator[Sim]:
    """snmpsim on 127.0.0.1 serving ``data_dirs``, with a writecache instance named after each of ``variations``;
    ready once it answers community ``probe``. Stopped by its pid on the way out."""
    assert RESPONDER is not None
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}  # the only way it runs as root; ignored otherwise
    options = [f"--variation-module-options=writecache={name}:" for name in variations]
    last_log = ""
    for attempt in range(3):  # the free port may be taken between the probe and the responder's bind
        port = free_udp_port()
        log_path = workdir / f"snmpsim-{attempt}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    RESPONDER,
                    *(f"--data-dir={d}" for d in data_dirs),
                    f"--cache-dir={cache}",
                    *options,
                    f"--agent-udpv4-endpoint=127.0.0.1:{port}",
                    "--log-level=error",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        sim = Sim(port, process, log_path)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                if _answers(port, probe, min(deadline, time.monotonic() + 1.0)):
                    break
            else:
                last_log = sim.log()
                continue
            yield sim
            return
        finally:
            sim.stop()
    raise RuntimeError(f"snmpsim did not start on 127.0.0.1 in three attempts; its log:\n{last_log}")
