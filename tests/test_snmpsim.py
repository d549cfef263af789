"""The SNMP drivers against six recordings of real switches (LibreNMS test data), served by snmpsim on 127.0.0.1.

The recordings stay in ``shared/snmprec/`` beside the checkout (GPL-3.0 test data: never committed here); this
module copies them into a temporary data directory at test time, next to writable variants of three of them.
Every expected value below is written out by hand from the recording's lines, as each comment says: none is
computed with the drivers' own code.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from snmpsim_fixture import (
    SHARED,
    Sim,
    line_oid,
    needs_snmpsim,
    oid_text,
    run,
    running_snmpsim,
    writable,
    write_recording,
)

from kavlan_core.drivers import portlist
from kavlan_core.drivers.base import PortChange, PortState, SwitchDriver, SwitchError
from kavlan_core.drivers.snmp_qbridge import member_list_format
from kavlan_core.drivers.snmp_session import SnmpSession

pytestmark = needs_snmpsim

PROCURVE = "hp-procurve_procurve_2520"
ARUBA = "aruba_arubaos-cx_10.16"
CISCO = "cisco_ios_c3560"
DELL = "dell_dell-os10"
JUNIPER = "juniper_junos_ex4600mp"
TPLINK = "tplink_tplink_sg2008"
RECORDINGS = (PROCURVE, ARUBA, CISCO, DELL, JUNIPER, TPLINK)
RW = "-rw"  # the writable variant of a recording is served under the community STEM-rw

PVID = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 5, 1, 1)
STATIC_EGRESS = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 2)
STATIC_UNTAGGED = (1, 3, 6, 1, 2, 1, 17, 7, 1, 4, 3, 1, 4)
CURRENT = "1.3.6.1.2.1.17.7.1.4.2.1."  # dot1qVlanCurrentEntry.<column>.<timeMark>.<vid>; 4 egress, 5 untagged
VM_VLAN = (1, 3, 6, 1, 4, 1, 9, 9, 68, 1, 2, 2, 1, 2)

TRUNK = PortState(None, trunk=True)
LAG = "is a link aggregation (ifType ieee8023adLag): it is not an access port"


def refused_as(reason: str) -> PortState:
    return PortState(None, refused=reason)


# --- what each recording says, read by hand ---------------------------------------------------------------

# TP-Link SG2008: no static table; dot1qVlanCurrentEgressPorts (…2.1.4.0.<vid>) is FF00000000000000 (ports 1-8)
# for VLANs 10, 11, 12, 99 and 855, and 00… for VLAN 1. CurrentUntaggedPorts: VLAN 10 = 07 (ports 6-8),
# VLAN 99 = 78 (ports 2-5), the others 00. So every port is a tagged member of VLANs 11, 12 and 855 (and port 1
# of all five: its pvid 10 is a native VLAN): all eight are trunks. The FDB agrees: port 2 learned MACs in VLANs
# 12, 99 and 855, port 4 in 11, 99 and 855 (dot1qTpFdbPort.<fdb>.<mac>).
TPLINK_PORTS = {f"port {n}: Gigabit Copper": TRUNK for n in range(1, 9)}

# ProCurve 2520: no static table; ifName = "1".."28" = bridge ports 1-28 (dot1dBasePortIfIndex is the identity).
# CurrentUntaggedPorts (octet 0 = ports 1-8, MSB first): VLAN 1 = 00 00 00 30 (27, 28); VLAN 95 = E3 DF FF 00
# (1-3, 7-10, 12-24); VLAN 252 = 00 00 00 40 (26); VLAN 450 = 1C 00 00 80 (4-6, 25); VLAN 636 = 00 20 (11).
# Egress minus untagged (tagged): VLAN 2044 = 40 00 00 30 (2, 27, 28); VLAN 2081 = 3B D8 02 30 (3-5, 7-10, 12,
# 13, 23, 27, 28); VLANs 95, 252, 450, 636, 999 also hold 27 and 28 tagged. dot1qPvid agrees with the untagged
# VLAN everywhere (95, 450, 636, 252, and 1 on 27/28). Ports tagged in a voice VLAN (2044/2081) are trunks.
PROCURVE_PORTS = {
    "1": PortState(95),
    "2": TRUNK,
    "3": TRUNK,
    "4": TRUNK,
    "5": TRUNK,
    "6": PortState(450),
    "7": TRUNK,
    "8": TRUNK,
    "9": TRUNK,
    "10": TRUNK,
    "11": PortState(636),
    "12": TRUNK,
    "13": TRUNK,
    "14": PortState(95),
    "15": PortState(95),
    "16": PortState(95),
    "17": PortState(95),
    "18": PortState(95),
    "19": PortState(95),
    "20": PortState(95),
    "21": PortState(95),
    "22": PortState(95),
    "23": TRUNK,
    "24": PortState(95),
    "25": PortState(450),
    "26": PortState(252),
    "27": TRUNK,
    "28": TRUNK,
}

# Dell OS10: no dot1qPvid, no static table. Bridge port 1 = ifIndex 49 (port-channel1000), 2-25 = ifIndex 13-36
# (ethernet1/1/1-24), 28/29 = 39/40 (ethernet1/1/27-28), 32 = 10 (mgmt1/1/1), 33/34 = 43/45 (port-channel1/2).
# CurrentEgress = CurrentUntagged = FFFFFF98 for VLAN 1 (bridge ports 1-25, 28, 29); VLAN 4094: egress 80 (one
# octet: bridge port 1), untagged 00000000. So port-channel1000 is a trunk, the Ethernet ports are in VLAN 1,
# and bridge ports 32-34 are in no VLAN at all: their VLAN is unknown. The port-channels are link aggregations
# (ifType 161, ieee8023adLag): never access ports.
DELL_PORTS = {
    "port-channel1000": refused_as(LAG),
    **{f"ethernet1/1/{n}": PortState(1) for n in (*range(1, 25), 27, 28)},
}
DELL_UNKNOWN = ["mgmt1/1/1", "port-channel1", "port-channel2"]
DELL_NOT_BRIDGED = ["ethernet1/1/25", "ethernet1/1/26", "ethernet1/1/29", "ethernet1/1/30"]

# ArubaOS-CX 6300M: dot1qPvid only (1/1/1-8 and 12-24, 27, 28: 1; 1/1/9-11: 123; lag1: 0), no VLAN table.
# The FDB shows 1/1/1 (pvid 1) learning MACs in VLANs 96, 123, 130, 131, 133, 134 and 155: a trunk, which no
# Q-BRIDGE object of this recording reveals. Every answer would be a guess: the driver must refuse.
ARUBA_BRIDGE_PORTS = [*(f"1/1/{n}" for n in (*range(1, 25), 27, 28)), "lag1"]

# Juniper EX4600: dot1qVlanStaticEgressPorts/UntaggedPorts are text lists of bridge ports. VLAN 1 untagged =
# 4434-4480 (ifIndex 944-991: ge-7/0/1-23, mge-7/0/24-47); VLAN 30 untagged = 4096-4143 (ifIndex 515-562:
# ge-0/0/0-23, mge-0/0/24-47); neither group is in any other VLAN's list. Bridge ports 3 (ae0), 4 (ae1) and
# 490-777 (ge-N/0/0-23, mge-N/0/24-47 for N = 1..6) are in egress lists and untagged nowhere: trunks (the 16
# dot1qPvid rows, 30 or 32, are all in 490-777: native VLANs of trunks in VLAN 33's list). ae0 and ae1 are
# link aggregations (ifType 161).
JUNIPER_PORTS = {
    "ae0": refused_as(LAG),
    "ae1": refused_as(LAG),
    **{f"ge-{fpc}/0/{n}": TRUNK for fpc in range(1, 7) for n in range(24)},
    **{f"mge-{fpc}/0/{n}": TRUNK for fpc in range(1, 7) for n in range(24, 48)},
    **{f"ge-0/0/{n}": PortState(30) for n in range(24)},
    **{f"mge-0/0/{n}": PortState(30) for n in range(24, 48)},
    **{f"ge-7/0/{n}": PortState(1) for n in range(1, 24)},
    **{f"mge-7/0/{n}": PortState(1) for n in range(24, 48)},
}

# Cisco 3560: vmVlan.<ifIndex> (…68.1.2.2.1.2) is 1 for Po30 (5030), Gi0/1-4 (10101-10104) and Fa0/2, 4-16, 18,
# 20-24, 26-28, 30, 32-44, 46 (10002…); 178 for Fa0/25 (10025); 2 for Fa0/48 (10048). Fa0/1, 3, 17, 19, 29, 31,
# 45 and 47 have no vmVlan row. vlanTrunkPortEncapsulationOperType (…46.1.6.1.1.16) is 6 (notApplicable) on
# every port and there is no DynamicStatus column: nothing trunks. Po30 (ifType 53, propVirtual, "Port-channel30")
# is an EtherChannel: never an access port.
CISCO_LAG = "is a link aggregation (ifType propVirtual, named as one): it is not an access port"
CISCO_VLAN_1 = [
    "Gi0/1",
    "Gi0/2",
    "Gi0/3",
    "Gi0/4",
    *(f"Fa0/{n}" for n in (2, *range(4, 17), 18, *range(20, 25), 26, 27, 28, 30, *range(32, 45), 46)),
]
CISCO_PORTS = {
    "Po30": refused_as(CISCO_LAG),
    **{name: PortState(1) for name in CISCO_VLAN_1},
    "Fa0/25": PortState(178),
    "Fa0/48": PortState(2),
}
CISCO_NO_VMVLAN = ["Fa0/1", "Fa0/3", "Fa0/17", "Fa0/19", "Fa0/29", "Fa0/31", "Fa0/45", "Fa0/47"]


def test_the_expected_data_covers_each_recording() -> None:
    # the port counts of INDEX.md: bridge ports, or Ethernet interfaces for the Cisco
    assert (len(TPLINK_PORTS), len(PROCURVE_PORTS), len(ARUBA_BRIDGE_PORTS)) == (8, 28, 27)
    assert len(DELL_PORTS) + len(DELL_UNKNOWN) == 30
    assert len(JUNIPER_PORTS) == 385
    assert len(CISCO_PORTS) == 45  # the vmVlan rows: 44 Ethernet ports and Po30
    assert len(CISCO_PORTS) - 1 + len(CISCO_NO_VMVLAN) == 52  # every Ethernet port


# --- the recordings, served -----------------------------------------------------------------------------------


def _qbridge_writable(
    lines: list[str],
    *,
    pvids: Sequence[int],
    vlans: Sequence[int],
    drop_tagged: dict[int, Sequence[int]] | None = None,
) -> list[str]:
    """A recording with a dot1qVlanStaticTable (Egress/Untagged) copied from its current table, writable for
    ``vlans``, and writable dot1qPvid lines for ``pvids``; ``drop_tagged`` removes ports from VLANs' egress lists.

    These recordings have no static table because LibreNMS did not walk it, not because the switches lack one;
    snmpsim can only write objects a recording holds, so the test adds them.
    """
    out: list[str] = []
    for line in lines:
        oid = line_oid(line)
        if oid[:-1] == PVID and oid[-1] in pvids:
            out.append(writable(line))
            continue
        out.append(line)
        column, mark, vid = oid[-3:]
        if oid_text(oid).startswith(CURRENT) and column in (4, 5) and mark == 0:
            octets = bytes.fromhex(line.split("|", 2)[2])
            if column == 4 and drop_tagged and vid in drop_tagged:
                octets = portlist.update(octets, remove=drop_tagged[vid])
            static = oid_text((*(STATIC_EGRESS if column == 4 else STATIC_UNTAGGED), vid))
            if vid in vlans:
                out.append(f"{static}|4:writecache|hexvalue={octets.hex().upper()}")
            else:
                out.append(f"{static}|4x|{octets.hex().upper()}")
    return out


def _cisco_writable(lines: list[str]) -> list[str]:
    """vmVlan writable but for Fa0/6 (10006), and Gi0/2 (10102) trunking with dot1Q (encapOperType 4)."""
    out = []
    for line in lines:
        oid = line_oid(line)
        if oid[:-1] == VM_VLAN and oid[-1] != 10006:
            line = writable(line)
        elif line.startswith("1.3.6.1.4.1.9.9.46.1.6.1.1.16.10102|"):
            line = "1.3.6.1.4.1.9.9.46.1.6.1.1.16.10102|2|4"
        out.append(line)
    return out


def _write_data_dir(data: Path) -> None:
    """The six recordings (copied: serving ``shared/snmprec`` itself would index the corpus too), and writable
    variants of three of them."""
    data.mkdir(parents=True)
    for stem in RECORDINGS:
        shutil.copyfile(SHARED / f"{stem}.snmprec", data / f"{stem}.snmprec")

    def lines(stem: str) -> list[str]:
        return [line for line in (SHARED / f"{stem}.snmprec").read_text().split("\n") if line]

    # one writecache instance serves these three: only the lines the tests write are writable, and no OID is
    # writable in two of them (ProCurve VLANs 95, 252, 450, 636, 999 and PVIDs 14, 15, 25, not 26 on purpose;
    # TP-Link VLANs 10, 99 and PVID 6)
    variants = {
        PROCURVE: _qbridge_writable(lines(PROCURVE), pvids=[14, 15, 25], vlans=[95, 252, 450, 636, 999]),
        # as an operator would: ports 6-8 made access ports of VLAN 10, out of the tagged VLANs 11, 12, 99, 855
        TPLINK: _qbridge_writable(
            lines(TPLINK),
            pvids=[6],
            vlans=[10, 99],
            drop_tagged={vid: [6, 7, 8] for vid in (11, 12, 99, 855)},
        ),
        CISCO: _cisco_writable(lines(CISCO)),
    }
    for stem, text in variants.items():
        write_recording(data / f"{stem}{RW}.snmprec", text)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    workdir = tmp_path_factory.mktemp("snmpsim")
    _write_data_dir(workdir / "data")
    with running_snmpsim(workdir, [workdir / "data"], probe=TPLINK) as responder:
        yield responder


async def talk(driver: SwitchDriver, body: Any) -> Any:
    try:
        return await body(driver)
    finally:
        await driver.close()


def read(
    sim: Sim, community: str, ports: Sequence[str], driver: str = "snmp_qbridge", **options: Any
) -> dict[str, PortState]:
    return run(talk(sim.driver(community, driver, **options), lambda d: d.read_ports(list(ports))))


def refused(sim: Sim, community: str, body: Any, driver: str = "snmp_qbridge", **options: Any) -> SwitchError:
    with pytest.raises(SwitchError) as err:
        run(talk(sim.driver(community, driver, **options), body))
    assert err.value.switch == community
    assert str(err.value).startswith(f"switch {community}: ")
    return err.value


# --- reads: every port of every recording --------------------------------------------------------------------


def test_tplink_every_port_is_a_trunk(sim: Sim) -> None:
    assert read(sim, TPLINK, list(TPLINK_PORTS)) == TPLINK_PORTS


def test_procurve_ports_from_the_current_table(sim: Sim) -> None:
    assert read(sim, PROCURVE, list(PROCURVE_PORTS)) == PROCURVE_PORTS


def test_dell_os10_without_pvid_and_with_short_portlists(sim: Sim) -> None:
    assert read(sim, DELL, list(DELL_PORTS)) == DELL_PORTS
    states = read(sim, DELL, [*DELL_UNKNOWN, "ethernet1/1/1", *DELL_NOT_BRIDGED])
    assert states["ethernet1/1/1"] == PortState(1)  # the odd ports are refused alone
    assert states["mgmt1/1/1"].refused == "has no dot1qPvid and is untagged in no VLAN: its VLAN is unknown"
    assert states["port-channel1"].refused == states["port-channel2"].refused == LAG
    for port in DELL_NOT_BRIDGED:
        assert states[port].refused == "is not a bridge port (no dot1dBasePortIfIndex maps to it)"


@pytest.mark.parametrize("detect_trunks", [True, False])
def test_aruba_cx_with_pvid_only_is_refused(sim: Sim, detect_trunks: bool) -> None:
    # detect_trunks = false was an option that trusted dot1qPvid once the switch was known to have a VLAN table:
    # it is gone, and an old inventory that still sets it changes nothing
    states = read(sim, ARUBA, ARUBA_BRIDGE_PORTS, detect_trunks=detect_trunks)
    assert states.pop("lag1").refused == LAG
    for state in states.values():
        assert state.refused is not None and state.tag is None and not state.trunk
        assert "neither dot1qVlanStaticTable nor dot1qVlanCurrentTable" in state.refused
        assert "cannot tell an access port from a trunk" in state.refused


def test_juniper_text_member_lists(sim: Sim) -> None:
    assert read(sim, JUNIPER, list(JUNIPER_PORTS)) == JUNIPER_PORTS


def test_member_lists_that_read_both_ways_are_refused() -> None:
    # b"3" is the text list {3} and the bitmap 0x33 = {3, 4, 7, 8}: where both fit the bridge ports, only the
    # operator can tell (portlist_format); where the bitmap names ports the switch lacks, it is text, as on Junos
    lists = [(b"3", b"")]
    table = "dot1qVlanStaticTable"
    with pytest.raises(ValueError, match="set the switch option portlist_format"):
        member_list_format(lists, frozenset({3, 4, 7, 8}), option="auto", table=table)
    assert member_list_format(lists, frozenset({3}), option="auto", table=table) == "text"
    # a comma makes it text whatever the ports (Junos lists hold bridge port 0, which no switch has)
    assert member_list_format([(b"0,4097", b"")], frozenset({4097}), option="auto", table=table) == "text"


def test_bitmaps_are_not_read_as_text_lists(sim: Sim) -> None:
    states = read(sim, PROCURVE, ["14"], portlist_format="text")
    assert (
        states["14"].refused is not None and "VLAN 1: not a text list of bridge ports" in states["14"].refused
    )


def test_cisco_access_vlans_from_vmvlan(sim: Sim) -> None:
    assert read(sim, CISCO, list(CISCO_PORTS), "snmp_cisco") == CISCO_PORTS
    # ifDescr names are accepted too
    assert read(sim, CISCO, ["GigabitEthernet0/1", "FastEthernet0/25"], "snmp_cisco") == {
        "GigabitEthernet0/1": PortState(1),
        "FastEthernet0/25": PortState(178),
    }
    states = read(sim, CISCO, [*CISCO_NO_VMVLAN, "Fa0/2"], "snmp_cisco")
    assert states.pop("Fa0/2") == PortState(1)
    assert {state.refused for state in states.values()} == {
        "has no vmVlan: it is not a static access port (a routed port, an EtherChannel member or a dynamic-VLAN "
        "port?)"
    }


# --- writes ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("community", "port", "words"),
    [
        (PROCURVE, "14", "no dot1qVlanStaticTable (only the read-only dot1qVlanCurrentTable)"),
        (TPLINK, "port 6: Gigabit Copper", "no dot1qVlanStaticTable"),
        (DELL, "ethernet1/1/1", "no dot1qVlanStaticTable"),
        (ARUBA, "1/1/1", "neither dot1qVlanStaticTable nor dot1qVlanCurrentTable"),
        (JUNIPER, "ge-0/0/0", "lists VLAN members as text"),
    ],
)
def test_recordings_without_a_writable_static_table_refuse_moves(
    sim: Sim, community: str, port: str, words: str
) -> None:
    err = refused(sim, community, lambda d: d.apply([PortChange(port, 1, 1)]))
    assert words in err.reason and err.ports == (port,)


def count_sets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = SnmpSession.request

    async def counting(self: SnmpSession, command: Any, auth: Any, *args: Any) -> Any:
        calls.append(command.__name__)
        return await original(self, command, auth, *args)

    monkeypatch.setattr(SnmpSession, "request", counting)
    return calls


def untagged_ports(value: Any) -> frozenset[int]:
    return portlist.decode(bytes(value.asOctets()))


def test_procurve_moves(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    community = PROCURVE + RW
    assert (
        read(sim, community, list(PROCURVE_PORTS)) == PROCURVE_PORTS
    )  # the added static table says the same
    calls = count_sets(monkeypatch)
    moves = [PortChange("14", 95, 636), PortChange("15", 95, 636), PortChange("25", 450, 252)]

    async def move(d: SwitchDriver) -> dict[str, PortState]:
        await d.ensure_vlan(636, "APS-B8HLK")  # exists (dot1qVlanStaticName): nothing to write
        await d.apply(moves)
        return await d.read_ports(list(PROCURVE_PORTS))

    after = run(talk(sim.driver(community), move))
    assert after == PROCURVE_PORTS | {"14": PortState(636), "15": PortState(636), "25": PortState(252)}
    assert calls.count("set_cmd") == 3  # one PDU per new VLAN's lists, one for the three PVIDs

    # the responder itself, asked without the driver
    pvid_14, pvid_25, u636, u95, u450, e450, u252 = run(
        sim.get(
            community,
            (*PVID, 14),
            (*PVID, 25),
            (*STATIC_UNTAGGED, 636),
            (*STATIC_UNTAGGED, 95),
            (*STATIC_UNTAGGED, 450),
            (*STATIC_EGRESS, 450),
            (*STATIC_UNTAGGED, 252),
        )
    )
    assert (int(pvid_14), int(pvid_25)) == (636, 252)
    assert untagged_ports(u636) == {11, 14, 15}
    assert untagged_ports(u95) == {1, 2, 3, 7, 8, 9, 10, 12, 13, *range(16, 25)}
    assert untagged_ports(u450) == {4, 5, 6} and untagged_ports(e450) == {4, 5, 6, 27, 28}
    assert untagged_ports(u252) == {25, 26}

    # dot1qPvid.26 is read-only in this copy: snmpsim answers the SET with noSuchInstance and no error status
    err = refused(sim, community, lambda d: d.apply([PortChange("26", 252, 999)]))
    assert "refused moving port(s) to VLAN 999: no such object dot1qPvid.26" in err.reason and err.ports == (
        "26",
    )
    # the lists were written, the PVID was not: the port is now neither here nor there, and the driver says so
    states = read(sim, community, ["25", "26"])
    assert states == {
        "25": PortState(252),
        "26": refused_as("is an untagged member of VLAN 999 but has dot1qPvid 252"),
    }


def test_procurve_refusals(sim: Sim) -> None:
    community = PROCURVE + RW
    err = refused(sim, community, lambda d: d.apply([PortChange("2", 95, 450), PortChange("27", 1, 450)]))
    assert "refusing to move trunk ports" in err.reason and "2 (VLAN 2044)" in err.reason
    assert err.ports == ("2", "27")
    err = refused(sim, community, lambda d: d.apply([PortChange("16", 95, 3000)]))
    assert "VLAN 3000 does not exist" in err.reason and err.ports == ("16",)

    # nothing above changed a port
    assert read(sim, community, ["2", "16", "27"]) == {"2": TRUNK, "16": PortState(95), "27": TRUNK}


def test_tplink_moves(sim: Sim) -> None:
    community = TPLINK + RW
    access = {f"port {n}: Gigabit Copper": PortState(10) for n in (6, 7, 8)}
    assert read(sim, community, list(TPLINK_PORTS)) == TPLINK_PORTS | access
    port = "port 6: Gigabit Copper"

    async def move(d: SwitchDriver) -> dict[str, PortState]:
        await d.apply([PortChange(port, 10, 99)])
        return await d.read_ports(list(TPLINK_PORTS))

    assert run(talk(sim.driver(community), move)) == TPLINK_PORTS | access | {port: PortState(99)}
    pvid, u99, u10, e10 = run(
        sim.get(community, (*PVID, 6), (*STATIC_UNTAGGED, 99), (*STATIC_UNTAGGED, 10), (*STATIC_EGRESS, 10))
    )
    assert int(pvid) == 99
    assert untagged_ports(u99) == {2, 3, 4, 5, 6}
    assert untagged_ports(u10) == {7, 8} and untagged_ports(e10) == {1, 2, 3, 4, 5, 7, 8}

    err = refused(sim, community, lambda d: d.apply([PortChange("port 1: Gigabit Copper", 10, 99)]))
    assert "refusing to move trunk ports" in err.reason and "(VLAN 10, 11, 12, 99, 855)" in err.reason


def test_cisco_moves_in_one_pdu(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    community = CISCO + RW
    assert read(sim, community, list(CISCO_PORTS), "snmp_cisco") == CISCO_PORTS | {"Gi0/2": TRUNK}
    calls = count_sets(monkeypatch)
    moving = ["Fa0/4", "Fa0/5", "Fa0/7", "Fa0/8"]

    async def move(d: SwitchDriver) -> dict[str, PortState]:
        await d.ensure_vlan(2, "VLAN0002")
        await d.apply([PortChange(port, 1, 2) for port in moving])
        return await d.read_ports(list(CISCO_PORTS))

    after = run(talk(sim.driver(community, "snmp_cisco"), move))
    assert after == CISCO_PORTS | {"Gi0/2": TRUNK} | {port: PortState(2) for port in moving}
    assert calls.count("set_cmd") == 1
    values = run(
        sim.get(community, *((*VM_VLAN, 10000 + int(p.split("/")[1])) for p in moving), (*VM_VLAN, 10009))
    )
    assert [int(v) for v in values] == [2, 2, 2, 2, 1]


def test_cisco_refusals(sim: Sim) -> None:
    community = CISCO + RW

    def apply(*changes: PortChange) -> Any:
        return lambda d: d.apply(list(changes))

    err = refused(sim, community, apply(PortChange("Gi0/2", 1, 2), PortChange("Fa0/9", 1, 2)), "snmp_cisco")
    assert "refusing to change the access VLAN of trunking port(s) Gi0/2" in err.reason and err.ports == (
        "Gi0/2",
    )
    err = refused(sim, community, apply(PortChange("Fa0/1", 1, 2)), "snmp_cisco")
    assert "has no vmVlan" in err.reason and err.ports == ("Fa0/1",)
    err = refused(sim, community, apply(PortChange("Fa0/9", 1, 178)), "snmp_cisco")
    assert "VLAN 178 is suspended on the switch (vtpVlanState 2)" in err.reason and err.ports == ("Fa0/9",)
    err = refused(sim, community, apply(PortChange("Fa0/9", 1, 999)), "snmp_cisco")
    assert "VLAN 999 does not exist on the switch (no vtpVlanState.1.999)" in err.reason
    assert "create it on the switch, or on its VTP server" in err.reason
    err = refused(sim, community, lambda d: d.ensure_vlan(999, "kavlan-4"), "snmp_cisco")
    assert "VLAN 999 does not exist" in err.reason
    err = refused(sim, community, lambda d: d.ensure_vlan(178, "LAN-Thuis"), "snmp_cisco")
    assert "suspended" in err.reason
    # vmVlan.10006 (Fa0/6) is read-only in this copy: noSuchInstance, no error status
    err = refused(sim, community, apply(PortChange("Fa0/6", 1, 2)), "snmp_cisco")
    assert "refused setting vmVlan: no such object vmVlan.10006" in err.reason and err.ports == ("Fa0/6",)
    # nothing above changed a port
    assert read(sim, community, ["Fa0/6", "Fa0/9", "Gi0/2"], "snmp_cisco") == {
        "Fa0/6": PortState(1),
        "Fa0/9": PortState(1),
        "Gi0/2": TRUNK,
    }
