"""The reservation form: the common cases as fields, or the kavlan-oarsub request line."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ..messages import ActionFailed, JobReserved

if TYPE_CHECKING:
    from ..app import KavlanApp

VLAN_CHOICES = [
    ("routed VLAN (kavlan, 4-9)", "kavlan"),
    ("local VLAN (kavlan-local, 1-3, behind a gateway)", "kavlan-local"),
    ("global VLAN (kavlan-global, spans every site)", "kavlan-global"),
    ("no VLAN", ""),
]


GRID_LINE = re.compile(r"\s*[A-Za-z0-9][A-Za-z0-9_.-]*:")
"""A request that begins with ``SITE:`` is oargridsub's (``sophia:rdef=...,lille:rdef=...``)."""


def is_grid_line(line: str) -> bool:
    return bool(GRID_LINE.match(line))


def sites_of(text: str) -> list[str]:
    """The sites typed in the form, in order, each once."""
    return list(dict.fromkeys(s.strip() for s in text.replace(" ", ",").split(",") if s.strip()))


def grid_line(sites: list[str], nodes: str, cluster_site: str, cluster: str, vlan_type: str) -> str:
    """The ``kavlan-oargridsub`` line of the form: the VLAN on the first site, the nodes on each (the cluster's
    on its own site): ``sophia:rdef={"type='kavlan-global'"}/vlan=1+/nodes=2,lille:rdef=/nodes=2``."""
    parts = []
    count = nodes.strip()
    for i, site in enumerate(sites):
        groups = []
        if vlan_type and i == 0:
            groups.append("{\"type='" + vlan_type + "'\"}/vlan=1")
        if count and count != "0":
            where = "{\"cluster='" + cluster + "'\"}" if cluster and site == cluster_site else ""
            groups.append(f"{where}/nodes={count}")
        if groups:
            parts.append(f"{site}:rdef=" + "+".join(groups))
    return ",".join(parts)


def request_line(nodes: str, cluster: str, vlan_type: str, walltime: str) -> str:
    """The ``kavlan-oarsub -l`` request of the form: ``{"type='kavlan'"}/vlan=1,{"cluster='suno'"}/nodes=3,walltime=1:00``."""
    parts = []
    if vlan_type:
        parts.append("{\"type='" + vlan_type + "'\"}/vlan=1")
    if nodes.strip() and nodes.strip() != "0":
        where = "{\"cluster='" + cluster + "'\"}" if cluster else ""
        parts.append(f"{where}/nodes={nodes.strip()}")
    if walltime.strip():
        parts.append(f"walltime={walltime.strip()}")
    return ",".join(parts)


class ReserveScreen(ModalScreen[int | None]):
    """Esc cancels; errors (a request the parser refuses, not enough free nodes) are shown here, the form stays."""

    HELP = """\
### Reserving

A job holds nodes and VLANs for a walltime. The form writes the request for the common cases; the
request line takes everything `kavlan-oarsub -l` takes, for example
`{"type='kavlan-local'"}/vlan=1,{"cluster='uvb'"}/nodes=2,walltime=2:30`.

With several sites (`sophia,lille,lyon`), it is a grid reservation, as `kavlan-oargridsub` makes it: one job
per site, all or nothing, ending together; the VLAN (a global one, to put every site's nodes in it) is the first
site's. The request line then takes oargridsub's parts: `sophia:rdef=/nodes=2,lille:rdef=/nodes=2`.
"""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reserve-cancel")]

    DEFAULT_CSS = """
    ReserveScreen { align: center middle; background: $background 60%; }
    ReserveScreen > #reserve {
        width: 84; max-width: 96%; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    ReserveScreen #reserve-title { text-style: bold; }
    ReserveScreen #reserve-help { color: $text-muted; margin: 0 0 1 0; }
    ReserveScreen Grid { grid-size: 2; grid-columns: 12 1fr; grid-rows: auto; height: auto; grid-gutter: 0 1; }
    ReserveScreen Grid Label { padding: 0 0; margin: 0 0; height: 1; content-align: left middle; }
    ReserveScreen Input { margin: 0 0; }
    ReserveScreen #reserve-error { color: $error; height: auto; }
    ReserveScreen #reserve-buttons { height: auto; align-horizontal: right; margin: 1 0 0 0; }
    ReserveScreen #reserve-buttons Button { margin: 0 0 0 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._form_line = ""

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        service = self.kapp.service
        site = service.inventory.sites[service.site]
        clusters = [(f"{c} ({len(service.inventory.clusters[c].nodes)} nodes)", c) for c in site.clusters]
        hours = service.settings.default_walltime / 3600
        walltime = f"{int(hours)}:{int(round((hours % 1) * 60)):02d}"
        with Vertical(id="reserve"):
            yield Static(f"Reserve nodes and VLANs on {service.site}", id="reserve-title")
            yield Static(
                "Fill in the common cases, or write the request as kavlan-oarsub -l takes it.",
                id="reserve-help",
            )
            with Grid():
                yield Label("Nodes")
                yield Input("3", id="nodes", type="integer", compact=True, tooltip="How many nodes (0: none)")
                yield Label("Cluster")
                yield Select(clusters, prompt="any cluster", id="cluster", compact=True)
                yield Label("VLAN")
                yield Select(VLAN_CHOICES, value="kavlan", allow_blank=False, id="vlan-type", compact=True)
                yield Label("Sites")
                yield Input(
                    service.site,
                    id="sites",
                    compact=True,
                    tooltip="Sites, comma-separated: several make a grid reservation (one job per site, all or "
                    f"nothing). Sites: {', '.join(service.inventory.sites)}",
                )
                yield Label("Walltime")
                yield Input(walltime, id="walltime", compact=True, tooltip="HOURS[:MINUTES[:SECONDS]]")
                yield Label("Request")
                yield Input(
                    "", id="request", compact=True, tooltip="The request, as kavlan-oarsub -l takes it"
                )
            yield Static("", id="reserve-error")
            with Horizontal(id="reserve-buttons"):
                yield Button("Cancel", id="reserve-cancel")
                yield Button("Reserve", id="reserve-submit", variant="primary")

    def on_mount(self) -> None:
        self._update_line()
        self.query_one("#nodes", Input).focus()

    def _update_line(self) -> None:
        cluster = self.query_one("#cluster", Select).value
        vlan_type = self.query_one("#vlan-type", Select).value
        cluster = cluster if isinstance(cluster, str) else ""
        vlan_type = vlan_type if isinstance(vlan_type, str) else ""
        nodes = self.query_one("#nodes", Input).value
        service = self.kapp.service
        sites = sites_of(self.query_one("#sites", Input).value)
        if sites and sites != [service.site]:  # another site, or several: a grid reservation
            line = grid_line(sites, nodes, service.site, cluster, vlan_type)
        else:
            line = request_line(nodes, cluster, vlan_type, self.query_one("#walltime", Input).value)
        request = self.query_one("#request", Input)
        if request.value in ("", self._form_line):  # the user's own line is not overwritten
            request.value = line
        self._form_line = line

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "request":
            self._update_line()
        self.query_one("#reserve-error", Static).update("")

    def on_select_changed(self, event: Select.Changed) -> None:
        self._update_line()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "reserve-submit":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _submit(self) -> None:
        line = self.query_one("#request", Input).value.strip()
        if not line:
            self.query_one("#reserve-error", Static).update("Nothing to reserve: ask for nodes or a VLAN.")
            return
        self.query_one("#reserve-submit", Button).disabled = True
        self.query_one("#reserve-error", Static).update(Content.from_markup("[$text-muted]Reserving…[/]"))
        if is_grid_line(line):
            self.kapp.reserve_grid(line, self.query_one("#walltime", Input).value, reply_to=self)
        else:
            self.kapp.reserve(line, reply_to=self)

    def on_action_failed(self, message: ActionFailed) -> None:
        message.stop()
        self.query_one("#reserve-submit", Button).disabled = False
        self.query_one("#reserve-error", Static).update(message.error)

    def on_job_reserved(self, message: JobReserved) -> None:
        self.dismiss(message.job)  # the message goes on to the app, which shows the job's view
