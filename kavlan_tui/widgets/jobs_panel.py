"""The user's running jobs (id, walltime left, nodes, VLANs), with Reserve and Release."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from kavlan_core.model import vlan_label
from kavlan_core.reservations import format_walltime

from ..board import JobView
from ..messages import JobChosen


def job_prompt(job: JobView, now: float, home: str) -> Content:
    left = max(0.0, job.deadline - now)
    vlans = (
        ", ".join(vlan_label(v) + ("" if site == home else f"@{site}") for site, v in job.vlans) or "no VLAN"
    )
    nodes = f"{len(job.nodes)} node{'s' if len(job.nodes) != 1 else ''}"
    warn = "$warning" if left < 600 else "$success"
    # a job of another site, or a grid's part, says where it is (a job of this site alone, as before)
    where = "" if job.site in ("", home) and job.grid is None else f" · {job.site}"
    grid = "" if job.grid is None else f" · grid {job.grid}"
    return Content.from_markup(
        f"[b]#$id[/] [{warn}]$left[/] left\n  [$text-muted]$nodes · VLAN $vlans$where$grid[/]",
        id=str(job.id),
        left=format_walltime(left),
        nodes=nodes,
        vlans=vlans,
        where=where,
        grid=grid,
    )


class JobsPanel(Vertical):
    """Time left ticks every second; at a job's end the app reads the board again (the service ends it)."""

    HELP = """\
### Your jobs

Each running job of yours: its id, the walltime left, its nodes and its VLANs.

- **r**: reserve nodes and VLANs (a form for the common cases, or the kavlan-oarsub syntax)
- **x**: release the highlighted job (its nodes go back to DEFAULT, its VLANs' DHCP stops)
- **Enter** or a click: show the job's VLANs on the board
"""

    DEFAULT_CSS = """
    JobsPanel {
        height: auto;
        max-height: 50%;
        border: round $panel;
        border-title-color: $foreground;
        padding: 0 0;
    }
    JobsPanel.-focus-within { border: round $primary; }  /* set by MainScreen.set_focus */
    JobsPanel > OptionList {
        height: auto;
        max-height: 12;
        border: none;
        padding: 0;
        background: $surface;
    }
    JobsPanel > OptionList:focus { border: none; }
    JobsPanel > .jobs-empty { color: $text-muted; padding: 0 1; }
    JobsPanel > .jobs-others { color: $text-muted; padding: 0 1; }
    JobsPanel > Horizontal { height: 1; margin: 0 1; dock: bottom; }
    JobsPanel Button { margin: 0 1 0 0; min-width: 10; }
    """

    def __init__(self, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.jobs: list[JobView] = []
        self.home = ""
        self.others = 0
        self.border_title = "Your jobs"
        self._expired: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Static("Loading…", classes="jobs-empty")
        yield OptionList(id="job-options")
        yield Static("", classes="jobs-others")
        with Horizontal():
            yield Button(
                "Reserve… r", id="reserve", compact=True, variant="primary", tooltip="Reserve nodes and VLANs"
            )
            yield Button(
                "Release x", id="release", compact=True, variant="error", tooltip="Delete the highlighted job"
            )

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    @property
    def options(self) -> OptionList:
        return self.query_one(OptionList)

    def show_jobs(self, jobs: Sequence[JobView], home: str, others: int, *, admin: bool = False) -> None:
        self.jobs, self.home, self.others = list(jobs), home, others
        options = self.options
        kept = options.highlighted_option.id if options.highlighted_option else None
        now = self.clock()
        options.set_options([Option(job_prompt(j, now, home), id=str(j.id)) for j in self.jobs])
        options.display = bool(self.jobs)
        if kept is not None and any(str(j.id) == kept for j in self.jobs):
            options.highlighted = options.get_option_index(kept)
        elif self.jobs:
            options.highlighted = 0
        empty = self.query_one(".jobs-empty", Static)
        empty.display = not self.jobs
        empty.update(
            "No running job. As an administrator, you may move any node."
            if admin
            else "No running job: the board is read-only. Reserve nodes and a VLAN (r)."
        )
        self.query_one(".jobs-others", Static).update(
            f"{others} job{'s' if others != 1 else ''} of other users running" if others else ""
        )
        self.query_one("#release", Button).disabled = not self.jobs
        self._expired &= {j.id for j in self.jobs}

    @property
    def highlighted_job(self) -> int | None:
        option = self.options.highlighted_option
        return int(option.id) if option is not None and option.id else None

    async def _tick(self) -> None:
        now = self.clock()
        for i, job in enumerate(self.jobs):
            self.options.replace_option_prompt_at_index(i, job_prompt(job, now, self.home))
        due = {j.id for j in self.jobs if j.deadline <= now} - self._expired
        if due:
            # the service ends an expired job on its next read: ask for one now, as Ctrl+R does (the action
            # is a coroutine: not awaited, it would never run, and the job would stay until the next poll)
            self._expired |= due
            await self.app.run_action("app.refresh")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(JobChosen(int(event.option.id)))
