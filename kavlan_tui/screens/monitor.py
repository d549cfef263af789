"""Live monitoring of one VLAN: per node, its link, speed, traffic and errors with a sparkline of what it sends,
read every ``monitor_interval`` seconds; the VLAN's isolation mark (clean, leak, or not vouched for) from the
isolation check every ``isolation_interval``, its details (leaks, the MACs seen) one key away. Nothing is read
while the view is closed: its timers are its own."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static

from kavlan_core.errors import KavlanError
from kavlan_core.model import vlan_label
from kavlan_core.monitoring import FdbReport, IsolationReport, PortLoad, PortsReport

from ..board import NodeView, short_port
from ..monitor_commands import link_text, rate_text, speed_text
from ..present import TUI_HINTS, sentence

if TYPE_CHECKING:
    from ..app import KavlanApp

BARS = "▁▂▃▄▅▆▇█"
HISTORY = 24
COLUMNS = {"node": 14, "port": 24, "link": 10, "speed": 8, "in": 10, "out": 10, "errors": 7, "sends": HISTORY}
"""The table's columns and their widths (a cell's first content is "-": it must not size its column)."""


def sparkline(values: list[float | None]) -> str:
    """One block per value, scaled to the largest; a space for an unknown one."""
    top = max((v for v in values if v is not None), default=0.0)
    if top <= 0:
        return "".join(" " if v is None else BARS[0] for v in values)
    return "".join(" " if v is None else BARS[min(7, int(v / top * 7.999))] for v in values)


def mark(report: IsolationReport | None, error: str = "") -> tuple[str, str]:
    """The isolation mark (text, style class): clean, leak, not vouched for, or not checked yet."""
    if error:
        return f"isolation: cannot check: {error}", "unknown"
    if report is None:
        return "isolation: checking…", "unknown"
    if report.leaks:
        return f"isolation: ✗ LEAK: {len(report.leaks)} finding(s) (i: details)", "leak"
    if report.unreadable:
        names = ", ".join(u.switch for u in report.unreadable)
        return f"isolation: ? no leak seen, but {names} could not be read (i: details)", "unknown"
    return f"isolation: ✓ clean: {report.macs} MAC address(es) seen (i: details)", "clean"


class MonitorScreen(Screen[None]):
    HELP = """\
### Monitoring

The VLAN's nodes: link, speed, what each sends (in) and receives (out) as its switch port counts it, input
errors, and a sparkline of what it sent over the last reads. Above, the isolation check of the VLAN: **clean**
(every MAC learned where it belongs), **LEAK**, or **?** (a switch could not be read: no clean bill).

- **i**: the check's details (leaks, unreadable switches, the MACs seen in the VLAN)
- **Esc**: back to the board
"""

    BINDINGS = [
        Binding("escape", "close", "Close", id="monitor-close"),
        Binding("i", "details", "Isolation details", id="monitor-details"),
    ]

    DEFAULT_CSS = """
    MonitorScreen #monitor-title { text-style: bold; padding: 0 1; }
    MonitorScreen #monitor-mark { padding: 0 1; }
    MonitorScreen #monitor-mark.clean { color: $success; }
    MonitorScreen #monitor-mark.leak { color: $error; text-style: bold; }
    MonitorScreen #monitor-mark.unknown { color: $warning; }
    MonitorScreen #monitor-ports { height: 1fr; }
    """

    def __init__(self, site: str, vlan: int, nodes: list[NodeView]) -> None:
        super().__init__()
        self.site, self.vlan = site, vlan
        self.nodes = nodes
        self.history: dict[str, deque[float | None]] = {n.plain: deque(maxlen=HISTORY) for n in nodes}
        self.links: dict[str, bool | None] = {}
        self.isolation: IsolationReport | None = None
        self.isolation_error = ""
        self.reads = 0
        """Port reads done (tests wait on it)."""
        self.checks = 0

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"Monitoring VLAN {vlan_label(self.vlan)} ({self.site}): {len(self.nodes)} node(s)",
                id="monitor-title",
            )
            yield Static(mark(None)[0], id="monitor-mark", classes="unknown")
            yield DataTable(id="monitor-ports", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column, width in COLUMNS.items():
            table.add_column(column, key=column, width=width)
        for node in self.nodes:
            table.add_row(
                self._label(node),
                f"{node.switch} {short_port(node.port)}",
                "?",
                "-",
                "-",
                "-",
                "-",
                "",
                key=node.plain,
            )
        settings = self.kapp.service.settings
        self.set_interval(settings.monitor_interval, self.read_ports)
        self.set_interval(settings.isolation_interval, self.check)
        self.read_ports()
        self.check()

    def _label(self, node: NodeView) -> str:
        """The node's name; with its NIC's when that is not its first one."""
        known = self.kapp.service.inventory.nodes.get(node.node)
        first = known is not None and known.primary_nic.name == node.nic
        return node.node if first else f"{node.node}/{node.nic}"

    # --- reads -----------------------------------------------------------------------------------------

    @work(exclusive=True, group="monitor-ports", exit_on_error=False)
    async def read_ports(self) -> None:
        if not self.nodes:
            self.reads += 1  # an empty VLAN: nothing to read, read all the same
            return
        try:
            report = await self.kapp.service.port_loads([n.plain for n in self.nodes], interval=0)
        except Exception as exc:  # a worker's failure is silent: say it (an internal error named)
            self.notify(sentence(exc, TUI_HINTS), title="monitoring", severity="error")
            self.reads += 1
            return
        self.show_ports(report)

    def show_ports(self, report: PortsReport) -> None:
        table = self.query_one(DataTable)
        by_node = {f"{x.node}/{x.nic}": x for x in report.loads}
        for node in self.nodes:
            load = by_node.get(f"{node.node}/{node.nic}")
            if load is None:
                continue
            self.history[node.plain].append(load.in_rate)
            self._link_news(node, load)
            cells = (
                link_text(load.up) if not load.reason else "unreadable",
                speed_text(load.speed_mbps),
                rate_text(load.in_rate),
                rate_text(load.out_rate),
                "-" if load.in_errors is None else str(load.in_errors),
                sparkline(list(self.history[node.plain])),
            )
            for column, value in zip(list(COLUMNS)[2:], cells, strict=True):
                table.update_cell(node.plain, column, value)
        for unreadable in report.unreadable:
            self.notify(unreadable.reason, title="monitoring", severity="warning")
        self.reads += 1

    def _link_news(self, node: NodeView, load: PortLoad) -> None:
        """A link that went down (or came back) since the last read is said at once."""
        before = self.links.get(node.plain)
        self.links[node.plain] = load.up
        if before is None or load.up is None or before == load.up:
            return
        if load.up:
            self.notify(f"link up again: {node.short} ({node.switch} {node.port})", title="monitoring")
        else:
            self.notify(
                f"link DOWN: {node.short} ({node.switch} {node.port})", title="monitoring", severity="error"
            )

    @work(exclusive=True, group="monitor-isolation", exit_on_error=False)
    async def check(self) -> None:
        try:
            report = await self.kapp.service.check_isolation(vlan=self.vlan, site=self.site)
        except Exception as exc:  # a worker's failure is silent: the mark says it (an internal error named)
            self.isolation_error = sentence(exc, TUI_HINTS)
        else:
            had = len(self.isolation.leaks) if self.isolation else 0
            self.isolation, self.isolation_error = report, ""
            if len(report.leaks) > had:
                self.notify(report.leaks[0].detail, title="isolation leak", severity="error", timeout=10)
        text, style = mark(self.isolation, self.isolation_error)
        label = self.query_one("#monitor-mark", Static)
        label.update(text)
        label.set_classes(style)
        self.checks += 1

    # --- actions -----------------------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="monitor-details", exit_on_error=False)
    async def action_details(self) -> None:
        try:
            fdb = await self.kapp.service.fdb(self.vlan, self.site)
        except KavlanError as exc:
            self.notify(sentence(exc, TUI_HINTS), title="monitoring", severity="error")
            return
        self.app.push_screen(IsolationDetails(self.vlan, self.isolation, fdb))


def details_lines(vlan: int, report: IsolationReport | None, fdb: FdbReport) -> list[str]:
    lines = [f"Isolation of VLAN {vlan_label(vlan)}", ""]
    if report is None:
        lines.append("not checked yet")
    else:
        lines += [f"✗ {leak.kind}: {leak.detail}" for leak in report.leaks] or ["no leak"]
        lines += [f"? {u.reason}" for u in report.unreadable]
        if report.stale:
            lines.append(f"· {report.stale} stale: a moved NIC's MAC still on an uplink in the VLAN it left")
    lines += ["", f"MAC addresses learned in VLAN {vlan_label(vlan)}:"]
    lines += [
        f"  {r.mac}  {r.switch} {r.port or '-'}  {f'{r.node}/{r.nic}' if r.node else 'unknown'}"
        for r in fdb.rows
    ] or ["  none"]
    return lines


class IsolationDetails(ModalScreen[None]):
    """The leaks (one sentence each), the switches not read, and the MACs the VLAN's switches learned."""

    BINDINGS = [Binding("escape", "close", "Close", id="isolation-close")]
    DEFAULT_CSS = """
    IsolationDetails { align: center middle; background: $background 60%; }
    IsolationDetails > VerticalScroll { width: 90%; height: 80%; border: round $primary; padding: 0 1; }
    """

    def __init__(self, vlan: int, report: IsolationReport | None, fdb: FdbReport) -> None:
        super().__init__()
        self.lines = details_lines(vlan, report, fdb)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("\n".join(self.lines), markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
