"""The staged-move dialog: the plan per switch (dry run), the at safeguard, confirm, then progress."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Checkbox, Static

from kavlan_core import events as ev
from kavlan_core.errors import NoDhcp, NotAllowed
from kavlan_core.model import GLOBAL_IDS, vlan_label

from ..board import NodeView, VlanView, short_port
from ..messages import MoveDone, PlanReady, ServiceEvent
from ..present import TUI_HINTS, sentence
from ..widgets.drag_ghost import describe
from ..widgets.node_list import ListContext
from .fitting import FittedDialog

if TYPE_CHECKING:
    from kavlan_core.reports import MoveReport, Plan, StagedReport

    from ..app import KavlanApp

PLAN_LINES = 400
"""Port lines of a plan shown in full; beyond, per switch counts only (the report lists every node)."""


@dataclass(frozen=True, slots=True)
class MoveOutcome:
    """What the report screen shows: the move asked for and how it went."""

    target: VlanView
    nodes: tuple[NodeView, ...]
    report: MoveReport | None = None
    staged: StagedReport | None = None


def plan_content(plan: Plan) -> Content:
    lines: list[Content] = []
    ports = plan.port_count
    switches = len(plan.switches)
    lines.append(
        Content.from_markup(
            "[b]Plan[/] [$text-muted](dry run: nothing changed yet)[/]: $ports on $switches",
            ports=f"{ports} port{'s' if ports != 1 else ''}",
            switches=f"{switches} switch{'es' if switches != 1 else ''}",
        )
    )
    shown = 0
    for sp in plan.switches:
        lines.append(
            Content.from_markup(
                "[b]$switch[/] [$text-muted]($driver) · $n port(s)[/]",
                switch=sp.switch,
                driver=sp.driver,
                n=str(len(sp.moves)),
            )
        )
        for m in sp.moves:
            if shown >= PLAN_LINES:
                break
            shown += 1
            old = vlan_label(m.old_vlan) if m.old_vlan is not None else f"tag {m.change.old_tag}"
            lines.append(
                Content.from_markup(
                    "  $port $name [$text-muted]$old[/] → [b]$new[/] [$text-muted](tag $ot → $nt)[/]",
                    port=short_port(m.change.port).ljust(12),
                    name=m.name.split(".")[0].ljust(20),
                    old=old,
                    new=vlan_label(m.new_vlan),
                    ot=str(m.change.old_tag),
                    nt=str(m.change.new_tag),
                )
            )
        for cmd in sp.commands[:6]:
            lines.append(Content.from_markup("    [$text-muted]| $cmd[/]", cmd=cmd))
    if shown >= PLAN_LINES and ports > shown:
        lines.append(Content.from_markup("  [$text-muted]… and $n more ports[/]", n=str(ports - shown)))
    for _ref, name in plan.unchanged:
        lines.append(
            Content.from_markup("[$text-muted]unchanged: $name is already there[/]", name=name.split(".")[0])
        )
    return Content("\n").join(lines)


class MoveDialog(FittedDialog["MoveOutcome | None"]):
    """Cancel before confirming changes nothing; a refused move says why and offers only Close."""

    HELP = """\
### Moving nodes

The plan lists, per switch, each port that would change (a dry run: nothing changed yet).

- **Restart the nodes' network via at first**: the tutorial's safeguard. Each node schedules a network
  restart with `at`, and an undo restart after it, the ports switch, then each must answer from its new VLAN
  (the move is confirmed there: its undo is removed). A node that does not come back has its port put back,
  and its undo restart brings it back where it was. Only for nodes that can be reached over SSH (not on
  simulated switches); on by default for them.
- **No DHCP check**: real nodes are not moved into a VLAN whose DHCP server is off (they would get no address);
  tick it if you run your own DHCP server there or your nodes have static addresses.
- **Enter** or **Move**: do it; **Esc** or **Cancel**: leave, nothing changed.
"""

    LONG = (("#plan-pane", 20),)

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog-cancel"),
        Binding("enter", "confirm", "Move", id="dialog-confirm", show=False),
    ]

    DEFAULT_CSS = """
    MoveDialog { align: center middle; background: $background 60%; }
    MoveDialog > #dialog {
        width: 100; max-width: 96%; height: auto; max-height: 92%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    MoveDialog #move-title { text-style: bold; color: $foreground; margin: 0 0 1 0; }
    MoveDialog #plan-pane { height: auto; max-height: 20; border: round $panel; padding: 0 1; }
    MoveDialog #plan.-refused { color: $error; }
    MoveDialog #safeguard-note { color: $text-muted; margin: 0 0 0 4; }
    MoveDialog #dhcp-note { color: $error; margin: 0 0 0 4; }
    MoveDialog Checkbox { border: none; padding: 0; background: $surface; }
    MoveDialog #buttons { height: auto; align-horizontal: right; margin: 1 0 0 0; }
    MoveDialog #buttons Button { margin: 0 0 0 2; }
    """

    def __init__(self, nodes: Sequence[NodeView], target: VlanView, context: ListContext) -> None:
        super().__init__()
        self.nodes = tuple(nodes)
        self.target = target
        self.context = context
        self.plan: Plan | None = None
        self.running = False
        self.finished = False
        self.reachable = bool(self.nodes) and not any(n.simulated for n in self.nodes)
        """Real nodes (not on simulated switches): the safeguard can reach them over SSH."""
        self.silent = [
            n for n in self.nodes if (note := context.notes.get(n.key)) is not None and note.reach is False
        ]
        """Nodes that did not answer the last reachability check: the safeguard's preflight would refuse."""
        self._switches: dict[str, str] = {}
        self._node_state: dict[str, str] = {n.plain: "waiting" for n in self.nodes}
        self._stages: list[str] = []
        self._dirty = False

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        n = len(self.nodes)
        froms = sorted({vlan_label(x.vlan) for x in self.nodes})
        t = self.target
        with Vertical(id="dialog"):
            yield Static(
                Content.from_markup(
                    "Move $n node$s into [b]$title[/]",
                    n=str(n),
                    s="s" if n != 1 else "",
                    title=t.title,
                ),
                id="move-title",
            )
            yield Static(
                Content.from_markup(
                    "[$text-muted]nodes:[/] $names [$text-muted]from VLAN $froms[/]\n"
                    "[$text-muted]into:[/] $kind VLAN $label of $site, $subnet$holder",
                    names=describe(self.nodes, 6),
                    froms=", ".join(froms),
                    kind=t.kind_word,
                    label=t.label,
                    site=t.site,
                    subnet=t.subnet,
                    holder=f", held by job #{t.job} ({t.user})" if t.job else "",
                ),
                id="move-summary",
            )
            with VerticalScroll(id="plan-pane"):
                yield Static("Reading the ports of the switches (dry run)…", id="plan")
            yield Checkbox(
                "Restart the nodes' network via at first (safeguard)",
                value=self.reachable and not self.silent,
                disabled=not self.reachable,
                id="safeguard",
            )
            yield Static(self._safeguard_note(), id="safeguard-note")
            yield Checkbox(
                "No DHCP check: my nodes have their own DHCP server there, or static addresses",
                value=False,
                id="no-dhcp-check",
            )
            yield Static("", id="dhcp-note")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Move", id="confirm", variant="primary", disabled=True)

    def _safeguard_note(self) -> str:
        if not self.reachable:
            return (
                "Simulated nodes cannot be reached over SSH: this is a plain move "
                "(the switches' ports change, the nodes are not asked to restart their network)."
            )
        s = self.kapp.settings
        if self.silent:
            return (
                f"{describe(self.silent)} did not answer over SSH lately: the safeguard's preflight would refuse "
                "the move, so it is off; switch it on to try anyway."
            )
        return (
            f"Each node schedules `{s.restart_command}` with at in {s.restart_delay} s, the ports switch, "
            f"then each must answer from the new VLAN within {s.verify_timeout} s; a node that does not has "
            "its port put back, and its undo restart brings it back."
        )

    def on_mount(self) -> None:
        self.query_one("#no-dhcp-check", Checkbox).display = False
        self.query_one("#dhcp-note", Static).display = False
        self._check_place()

    def _check_place(self) -> None:
        t = self.target
        for n in self.nodes:
            if t.id not in GLOBAL_IDS and n.site != t.site:
                self.post_message(
                    PlanReady(
                        None,
                        f"{n.node} is a node of {n.site}: it can only join the VLANs of "
                        f"{n.site} or a global VLAN, not {t.title}",
                        refused=True,
                    )
                )
                return
        self._dry_run()

    @work(exclusive=True, group="plan", exit_on_error=False)
    async def _dry_run(self) -> None:
        names = [n.plain for n in self.nodes]
        try:
            plan = await self.kapp.service.plan(names, self.target.id)
            no_dhcp = ""
            try:
                await self.kapp.service.check_dhcp(names, self.target.id)
            except NoDhcp as exc:
                no_dhcp = sentence(exc, TUI_HINTS)
        except NotAllowed as exc:
            self.post_message(PlanReady(None, sentence(exc, TUI_HINTS), refused=True))
        except Exception as exc:  # every failure reaches the dialog, which must not wait forever
            self.post_message(PlanReady(None, sentence(exc, TUI_HINTS)))
        else:
            self.post_message(PlanReady(plan, no_dhcp=no_dhcp))

    def on_plan_ready(self, message: PlanReady) -> None:
        plan_widget = self.query_one("#plan", Static)
        confirm = self.query_one("#confirm", Button)
        if message.plan is None:
            head = "Refused" if message.refused else "Cannot move"
            plan_widget.update(
                Content.from_markup(
                    f"[b $error]{head}:[/] $why\n\n[b]Nothing was changed.[/]", why=message.error
                )
            )
            plan_widget.add_class("-refused")
            confirm.display = False
            self.query_one("#safeguard", Checkbox).display = False
            self.query_one("#safeguard-note", Static).display = False
            self.query_one("#cancel", Button).label = "Close"
            self.query_one("#cancel", Button).focus()
            return
        self.plan = message.plan
        plan_widget.update(plan_content(message.plan))
        if message.plan.port_count == 0:
            confirm.display = False
            self.query_one("#cancel", Button).label = "Close"
            self.query_one("#cancel", Button).focus()
            return
        confirm.disabled = False
        confirm.label = f"Move {message.plan.port_count} port{'s' if message.plan.port_count != 1 else ''}"
        if message.no_dhcp:  # shown before confirm: the move waits until the user says the nodes need no DHCP
            note = self.query_one("#dhcp-note", Static)
            note.update(message.no_dhcp)
            note.display = True
            check = self.query_one("#no-dhcp-check", Checkbox)
            check.display = True
            confirm.disabled = True
            check.focus()  # Space or Enter ticks it; Esc leaves
            return
        confirm.focus()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "no-dhcp-check" and not self.running:
            self.query_one("#confirm", Button).disabled = not event.value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.action_cancel()
        elif event.button.id == "confirm":
            self.action_confirm()

    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(None)

    def action_confirm(self) -> None:
        confirm = self.query_one("#confirm", Button)
        if self.running or self.plan is None or confirm.disabled or not confirm.display:
            return
        self.running = True
        staged = self.query_one("#safeguard", Checkbox).value and self.reachable
        for widget in self.query("Checkbox, Button"):
            widget.disabled = True
        confirm.label = "Moving…"
        for sp in self.plan.switches:
            self._switches[sp.switch] = f"⋯ {len(sp.moves)} port(s) waiting"
        self._stages = ["staged move: preflight (every node reachable, with at)…"] if staged else []
        self._show_progress()
        self._move(staged)

    @work(exclusive=True, group="move", exit_on_error=False)
    async def _move(self, staged: bool) -> None:
        names = [n.plain for n in self.nodes]
        service = self.kapp.service
        self.kapp.moving = True
        try:
            if staged:
                dhcp_check = not self.query_one("#no-dhcp-check", Checkbox).value
                staged_report = await service.move_with_restart(names, self.target.id, dhcp_check=dhcp_check)
                self.post_message(MoveDone(staged=staged_report))
            else:
                self.post_message(MoveDone(report=await service.set_vlan(names, self.target.id)))
        except Exception as exc:
            self.post_message(MoveDone(error=sentence(exc, TUI_HINTS)))
        finally:
            self.kapp.moving = False

    def on_service_event(self, message: ServiceEvent) -> None:
        e: Any = message.event
        if not self.running:
            return
        if isinstance(e, ev.SwitchStarted):
            self._switches[e.switch] = f"▶ {e.action} {e.ports} port(s)…"
        elif isinstance(e, ev.SwitchFinished):
            self._switches[e.switch] = (
                f"✓ {e.action} done in {e.seconds:.2f} s"
                if e.ok
                else f"✗ {e.action} failed in {e.seconds:.2f} s: {e.error}"
            )
        elif isinstance(e, ev.NodeMoved):
            self._node_state[e.node] = f"✓ in VLAN {vlan_label(e.new)}"
        elif isinstance(e, ev.SafeguardStep):
            self._stages.append(f"staged move: {e.stage}" + (f" ({e.detail})" if e.detail else ""))
            if e.stage == "back" and e.detail in self._node_state:
                self._node_state[e.detail] = "✓ back, answering from the new VLAN"
            elif e.stage == "returned" and e.detail in self._node_state:
                self._node_state[e.detail] = "↩ not back: its port went back, and it answers there again"
        else:
            return
        if not self._dirty:
            self._dirty = True
            self.set_timer(0.05, self._show_progress)

    def _show_progress(self) -> None:
        self._dirty = False
        lines: list[Content] = [Content.from_markup("[b]Progress[/]")]
        lines += [Content(s) for s in self._stages]
        for switch, state in self._switches.items():
            lines.append(Content.from_markup("switch [b]$sw[/]  $state", sw=switch.ljust(14), state=state))
        shown = list(self._node_state.items())[:PLAN_LINES]
        for name, state in shown:
            lines.append(
                Content.from_markup(
                    "  $name [$text-muted]$state[/]", name=name.split(".")[0].ljust(22), state=state
                )
            )
        self.query_one("#plan", Static).update(Content("\n").join(lines))

    def on_move_done(self, message: MoveDone) -> None:
        self.running = False
        if message.error:
            plan_widget = self.query_one("#plan", Static)
            plan_widget.update(Content.from_markup("[b $error]The move failed:[/] $why", why=message.error))
            cancel = self.query_one("#cancel", Button)
            cancel.disabled, cancel.label = False, "Close"
            cancel.focus()
            return
        self.finished = True
        self.dismiss(MoveOutcome(self.target, self.nodes, message.report, message.staged))
