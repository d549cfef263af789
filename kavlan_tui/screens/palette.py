"""The command palette's kavlan commands (the registry's, and what makes sense on the main screen right now) and
its theme picker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..commands import REGISTRY

if TYPE_CHECKING:
    from textual.widget import Widget

    from ..app import KavlanApp
    from ..board import Board
    from .main import MainScreen

HIDDEN = {"use"}
"""Registry commands the TUI does itself (the jobs panel picks the current job)."""

Entry = tuple[str, Callable[[], Any], str]
DEPLOY_ENV = "debian12-min"
"""The environment the "Deploy into VLAN" line starts with (the line is edited before it runs)."""


class KavlanCommands(Provider):
    """Only on the main screen: over a dialog, kavlan's commands would act behind it."""

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def entries(self) -> Iterator[Entry]:
        from .main import MainScreen

        app = self.kapp
        screen = self.screen
        if not isinstance(screen, MainScreen):
            return
        yield (
            "Reserve nodes and VLANs…",
            screen.action_reserve,
            "A form for the common cases, or the kavlan-oarsub syntax",
        )
        if app.board is not None:
            yield from self._job_entries(app.board)
        yield from self._node_entries(screen.focused)
        yield from self._board_entries(screen)
        yield "Check the switches for drift now", app.poll, "Read every port and compare with the store"
        yield "Refresh the board", app.load_board, "Read jobs and VLANs again"
        yield "Show your jobs", partial(screen.want_view, "mine"), "Your VLANs and where your nodes are"
        for site in app.service.reachable_sites():
            yield f"Show site {site}", partial(screen.want_view, site), f"Every VLAN of {site}"
        for name in app.themes:
            yield f"Theme: {name}", partial(app.set_theme, name), "Switch to this theme"
        yield "Command line…", partial(self._command, "", False), "Type kavlan-shell commands"
        for cmd in sorted(REGISTRY.commands.values(), key=lambda c: c.name):
            if cmd.name in HIDDEN:
                continue
            runs = not any(p.required for p in cmd.params)
            yield (
                f"kavlan {cmd.name}",
                partial(self._command, cmd.name + ("" if runs else " "), runs),
                f"{cmd.summary}  ({cmd.usage})",
            )

    def _job_entries(self, board: Board) -> Iterator[Entry]:
        """Release each of the user's jobs; switch the DHCP server of each of their VLANs."""
        for job in board.jobs:
            yield (
                f"Release job {job.id}",
                partial(self._release, job.id),
                f"Its {len(job.nodes)} node(s) go back to DEFAULT",
            )
        for job in board.jobs:
            for site, vid in job.vlans if job.nodes else ():
                yield (
                    f"Deploy into VLAN {vid} ({site})…",
                    partial(self._command, f"deploy {DEPLOY_ENV} {vid} {' '.join(job.nodes)}", False),
                    f"kadeploy3 --vlan: job {job.id}'s nodes into VLAN {vid}, reachable under their in-VLAN "
                    "names (edit the environment; --key installs your keys)",
                )
        for job in board.jobs:
            for site, vid in job.vlans:
                vlan = board.vlans.get((site, vid))
                if vlan is not None:
                    on = vlan.dhcp != "on"
                    yield (
                        f"DHCP {'on' if on else 'off'}: VLAN {vid} ({site})",
                        partial(self.kapp.set_dhcp, (site, vid), on),
                        f"{'Start' if on else 'Stop'} the DHCP server of VLAN {vid}",
                    )

    def _node_entries(self, focused: Widget | None) -> Iterator[Entry]:
        """What the nodes chosen in the focused list, or the one under its cursor, can do."""
        from ..widgets.node_list import NodeList

        if not isinstance(focused, NodeList):
            return
        chosen = focused.chosen()
        if chosen:
            yield (
                f"Move {len(chosen)} node(s) to a VLAN…",
                focused.action_move,
                "Pick the VLAN, see the plan, confirm",
            )
            yield (
                f"Copy {len(chosen)} node name(s) as a nodefile…",
                focused.action_copy,
                "To the clipboard or a file, for kavlan -f or taktuk -f",
            )
        node = focused.cursor_node
        if node is not None:
            yield (
                f"Details of {node.short}",
                focused.action_details,
                "Its NICs, address, reachability, events",
            )
            yield (
                f"SSH to {node.short}",
                partial(self.kapp.call_later, self.kapp.ssh_node, node),
                "An interactive session on the node",
            )

    def _board_entries(self, screen: MainScreen) -> Iterator[Entry]:
        """Filter, sort and group the board; select what it shows."""
        from ..arrange import GROUPS, SORTS

        yield (
            "Filter the board…",
            screen.action_filter,
            "Type names, patterns (suno-[1-10]), sw2, vlan:4, down…",
        )
        how = screen.arrangement
        for key, name in SORTS.items():
            if key != how.sort:
                yield f"Sort by {name}", partial(self.app.call_later, screen.set_sort, key), "Order the nodes"
        for key, name in GROUPS.items():
            if key != how.group:
                yield (
                    f"Group by {name}",
                    partial(self.app.call_later, screen.set_group, key),
                    "Parts of the board",
                )
        yield "Select every node shown", screen.action_select_shown, "What matches the filter (A)"

    def _command(self, line: str, run: bool) -> None:
        from .command_line import CommandScreen

        self.kapp.push_screen(CommandScreen(line, run=run))

    def _release(self, job_id: int) -> None:
        from .main import MainScreen

        screen = self.screen
        if isinstance(screen, MainScreen):
            panel = screen.query_one("#job-options")
            for i, option in enumerate(panel.options):  # type: ignore[attr-defined]
                if option.id == str(job_id):
                    panel.highlighted = i  # type: ignore[attr-defined]
            screen.action_release()

    async def discover(self) -> Hits:
        for name, callback, help_text in self.entries():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        from .main import MainScreen

        words = query.split()
        if words and isinstance(self.screen, MainScreen):
            cmd = REGISTRY.get(words[0])
            if (
                cmd is not None
                and cmd.name not in HIDDEN
                and (len(words) > 1 or not any(p.required for p in cmd.params))
            ):
                yield Hit(
                    1.0,
                    f"Run: {query.strip()}",
                    partial(self._command, query.strip(), True),
                    help=cmd.summary,
                )
        matcher = self.matcher(query)
        for name, callback, help_text in self.entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class KavlanThemes(Provider):
    """Kavlan's themes, for the theme picker (Ctrl+T, or Theme in the palette): the choice is saved."""

    @property
    def kapp(self) -> KavlanApp:
        return self.app  # type: ignore[return-value]

    def entries(self) -> Iterator[tuple[str, Callable[[], Any], str]]:
        app = self.kapp
        for name in app.themes:
            current = " (current)" if name == app.theme else ""
            yield (
                name,
                partial(app.set_theme, name),
                f"{'dark' if app.themes[name].dark else 'light'}{current}",
            )

    async def discover(self) -> Hits:
        for name, callback, help_text in self.entries():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
