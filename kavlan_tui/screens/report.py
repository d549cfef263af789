"""The report of a move: per switch and per node, with rollback offered for nodes that did not come back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, DataTable, Static

from kavlan_core.model import DEFAULT, vlan_label
from kavlan_core.reports import Outcome

from ..board import short_port
from ..messages import RolledBack
from ..present import TUI_HINTS, sentence
from .fitting import FittedDialog
from .move import MoveOutcome

if TYPE_CHECKING:
    from ..app import KavlanApp

STATUS_MARK = {
    Outcome.SUCCESS: "✓",
    Outcome.UNCHANGED: "·",
    Outcome.FAILURE: "✗",
    Outcome.ROLLED_BACK: "↶",
    Outcome.PENDING: "⋯",
}


class ReportScreen(FittedDialog[None]):
    """Esc or Close returns to the board; Roll back puts the ports of failed nodes back where they were. The table
    of nodes shortens (and scrolls) in a short terminal: the buttons stay in the box."""

    BOX = "#report"
    LONG = (("#report-nodes", 20),)

    HELP = """\
### The report of a move

One line per node: ✓ success, · unchanged (already there, or not moved because another part failed),
✗ failure with the switch's reason, ↶ rolled back. For a staged move, the seconds at which each node
was checked, scheduled, switched and back.

- **Roll back**: put the ports of the nodes that did not come back into their former VLAN
"""

    BINDINGS = [Binding("escape", "close", "Close", id="report-close")]

    DEFAULT_CSS = """
    ReportScreen { align: center middle; background: $background 60%; }
    ReportScreen > #report {
        width: 110; max-width: 96%; height: auto; max-height: 92%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    ReportScreen > #report.-failed { border: round $error; }
    ReportScreen #report-title { text-style: bold; margin: 0 0 1 0; }
    ReportScreen #report-switches { color: $text-muted; margin: 0 0 1 0; }
    ReportScreen DataTable { height: auto; max-height: 20; }
    ReportScreen #report-buttons { height: auto; align-horizontal: right; margin: 1 0 0 0; }
    ReportScreen #report-buttons Button { margin: 0 0 0 2; }
    """

    def __init__(self, outcome: MoveOutcome) -> None:
        super().__init__()
        self.outcome = outcome
        self.rows = self._rows()

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def _rows(self) -> list[dict[str, object]]:
        """One dict per node: name, status, detail, switch, port, old and new VLAN, timings."""
        o = self.outcome
        where = {n.plain: n for n in o.nodes}
        rows: list[dict[str, object]] = []
        if o.staged is not None:
            move = {r.name: r for r in (o.staged.move.results if o.staged.move else [])}
            for n in o.staged.nodes:
                r = move.get(n.name)
                node = where.get(n.name)
                timings = ", ".join(f"{k} {v:.1f}s" for k, v in n.timings.items())
                rows.append(
                    {
                        "name": n.name,
                        "status": n.status,
                        "detail": n.message or timings,
                        "switch": r.switch if r else (node.switch if node else ""),
                        "port": r.port if r else (node.port if node else ""),
                        "old": n.old_vlan,
                        "new": n.new_vlan,
                        "back": n in o.staged.not_back,
                    }
                )
        elif o.report is not None:
            for r in o.report.results:
                old = where[r.name].vlan if r.name in where else r.old_vlan
                # a failed node whose port stayed in the new VLAN (its rollback failed too) can be put back
                stuck = r.status == Outcome.FAILURE and r.new_vlan == o.report.vlan
                rows.append(
                    {
                        "name": r.name,
                        "status": r.status,
                        "detail": r.message,
                        "switch": r.switch,
                        "port": r.port,
                        "old": old,
                        "new": r.new_vlan,
                        "back": stuck,
                    }
                )
        return rows

    def summary(self) -> Content:
        o = self.outcome
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[str(row["status"])] = counts.get(str(row["status"]), 0) + 1
        words = {
            Outcome.SUCCESS: "moved",
            Outcome.UNCHANGED: "unchanged",
            Outcome.FAILURE: "failed",
            Outcome.ROLLED_BACK: "rolled back",
        }
        parts = ", ".join(f"{v} {words.get(k, k)}" for k, v in sorted(counts.items()))
        seconds = o.staged.seconds if o.staged is not None else (o.report.seconds if o.report else 0.0)
        kind = "Staged move" if o.staged is not None else "Move"
        ok = all(r["status"] in (Outcome.SUCCESS, Outcome.UNCHANGED) for r in self.rows)
        mark = "[$success]✓[/]" if ok else "[$error]✗[/]"
        return Content.from_markup(
            f"{mark} $kind into [b]$title[/]: $parts in $secs s",
            kind=kind,
            title=o.target.title,
            parts=parts or "nothing to do",
            secs=f"{seconds:.2f}",
        )

    def switch_lines(self) -> str:
        o = self.outcome
        move = o.staged.move if o.staged is not None else o.report
        lines = []
        if o.staged is not None and o.staged.stages:
            lines.append("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in o.staged.stages.items()))
        for t in move.switches if move else []:
            state = "ok" if t.ok else f"FAILED: {t.error}"
            tries = f", {t.tries} tries" if t.tries > 1 else ""
            lines.append(f"switch {t.switch}: {t.ports} port(s) in {t.seconds:.2f} s{tries}, {state}")
        return "\n".join(lines)

    def candidates(self) -> list[dict[str, object]]:
        return [r for r in self.rows if r["back"] and r["status"] == Outcome.FAILURE]

    def compose(self) -> ComposeResult:
        failed = any(r["status"] == Outcome.FAILURE for r in self.rows)
        with Vertical(id="report", classes="-failed" if failed else ""):
            yield Static(self.summary(), id="report-title")
            yield Static(self.switch_lines(), id="report-switches")
            yield DataTable(id="report-nodes", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="report-buttons"):
                n = len(self.candidates())
                if n:
                    yield Button(
                        f"Roll back {n} node{'s' if n != 1 else ''}", id="rollback", variant="warning"
                    )
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "node", "status", "VLAN", "switch", "port", "detail")
        self._fill()
        self.call_after_refresh(self._focus_close)

    def _focus_close(self) -> None:
        for button in self.query("#close"):
            button.focus()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for r in self.rows:
            old, new = r["old"], r["new"]
            vlans = f"{vlan_label(old) if isinstance(old, int) else '?'} → {vlan_label(new) if isinstance(new, int) else '?'}"
            table.add_row(
                STATUS_MARK.get(str(r["status"]), "?"),
                str(r["name"]).split(".")[0],
                str(r["status"]),
                vlans,
                str(r["switch"]),
                short_port(str(r["port"])),  # as the board names it: the detail fits 80 columns
                str(r["detail"]),
            )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "close":
            self.dismiss(None)
        elif event.button.id == "rollback":
            event.button.disabled = True
            event.button.label = "Rolling back…"
            self._rollback()

    def action_close(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="move", exit_on_error=False)
    async def _rollback(self) -> None:
        groups: dict[int, list[str]] = {}
        for r in self.candidates():
            old = r["old"] if isinstance(r["old"], int) else DEFAULT
            groups.setdefault(old, []).append(str(r["name"]))
        errors = []
        for old, names in groups.items():
            try:
                report = await self.kapp.service.set_vlan(names, old)
            except Exception as exc:
                errors.append(sentence(exc, TUI_HINTS))
                continue
            for res in report.results:
                for row in self.rows:
                    if row["name"] == res.name and res.status == Outcome.SUCCESS:
                        row["status"], row["new"], row["back"] = Outcome.ROLLED_BACK, old, False
                        row["detail"] = f"its port is back in VLAN {vlan_label(old)}"
            errors += [f"{r.name}: {r.message}" for r in report.failed]
        self.post_message(RolledBack("; ".join(errors)))

    def on_rolled_back(self, message: RolledBack) -> None:
        self._fill()
        self.query_one("#report-title", Static).update(self.summary())
        button = self.query_one("#rollback", Button)
        if message.error:
            button.label = "Rollback failed"
            self.notify(message.error, title="rollback", severity="error", timeout=8)
        else:
            button.label = "Rolled back"
            self.notify("the ports are back in their former VLANs")
