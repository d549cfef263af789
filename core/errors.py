"""Errors a user can cause, each carrying one clear sentence that the faces show as it is."""

from __future__ import annotations

from collections.abc import Sequence


class KavlanError(Exception):
    """Base of every error the faces show as one sentence (exit status 1): a face catches this class alone.

    The errors of the configuration, the testbed description, the store and the lab derive from it too.

    The sentence names settings and things of the testbed, never a face's options: ``about`` says what it is about
    (``nodes``: no node was given; ``api``: no API server is set; ``ca_cert``: the server's CA is missing;
    ``where``: the nodes' VLANs should be checked), so that each face can add its own hint (``-m``, ``--api``)."""

    exit_code = 1

    def __init__(self, message: str = "", *, about: str = "") -> None:
        super().__init__(message)
        self.about = about


class BadInput(KavlanError):
    """Malformed input: unknown node, bad nodefile, VLAN out of range, contradictory options."""


class NotFound(KavlanError):
    """A job, VLAN or node that does not exist (or no longer runs)."""


class NotAllowed(KavlanError):
    """The user lacks rights; ``refusals`` names every node or VLAN refused and why."""

    def __init__(self, message: str, refusals: Sequence[tuple[str, str]] = (), *, about: str = "") -> None:
        super().__init__(message, about=about)
        self.refusals = list(refusals)


class Unavailable(KavlanError):
    """The testbed cannot do it now (no free VLAN, not enough free nodes, a switch busy)."""


class Misconfigured(Unavailable):
    """What the server's own files or settings keep it from doing (a switch credentials file others may read,
    no DHCP placement for a VLAN): the sentence names the file or setting, for the operator to fix."""


class NoDhcp(Unavailable):
    """A move that would strand real nodes: they would restart their network in a VLAN where no DHCP server answers
    (``about`` is ``dhcp``: each face names its way to go ahead anyway)."""


class SwitchUnavailable(Unavailable):
    """A switch could not be read or changed: the switch, the ports concerned, and the switch's reason.

    Drivers raise their own ``SwitchError``; the core turns it into this before it reaches a face, so that no
    face needs to know the drivers."""

    def __init__(self, message: str, *, switch: str, ports: Sequence[str] = (), about: str = "") -> None:
        super().__init__(message, about=about)
        self.switch = switch
        self.ports = list(ports)


class StoreError(KavlanError, RuntimeError):
    """The database refused or failed: one sentence naming it (never the SQL)."""


class DatabaseFault(StoreError):
    """The database failed under a running process: read-only, full, deleted, replaced, damaged, or its server
    gone. The sentence names the database and what to do."""


class LockTimeout(StoreError):
    """A named lock stayed held by someone else until the deadline."""
