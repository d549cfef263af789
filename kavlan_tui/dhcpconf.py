"""``kavlan-dhcp-config``: write a VLAN's DHCP config (ISC dhcpd as the tutorial's gen_dhcpd_conf.rb, dnsmasq, Kea)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

PROG = "kavlan-dhcp-config"

EPILOG = """\
Without --vlan-id, writes one config per VLAN of the site: 1-9 and the site's global VLAN.
-o - prints a single config on standard output. Users who PXE-boot from their own node
pass that node's address as --next-server (the tutorial edits next-server with perl)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        from .present import printable

        sys.stderr.write(f"{PROG}: {printable(message)} (see {PROG} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Generate the DHCP config of a KaVLAN VLAN, for your own DHCP server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("-s", "--site", help="the site (default: this frontend's)")
    p.add_argument("-i", "--vlan-id", metavar="N", help="the VLAN (default: every VLAN of the site)")
    p.add_argument("--next-server", metavar="IP", help="TFTP server for PXE boot, in place of the site's")
    p.add_argument(
        "--format",
        choices=["isc", "dnsmasq", "kea", "all"],
        default="isc",
        help="config format (default: isc)",
    )
    p.add_argument(
        "-o", "--output", metavar="DIR", default=".", help="directory to write to, or - for standard output"
    )
    p.add_argument(
        "--interface", default="eth0", help="interface the dnsmasq or Kea server listens on (default: eth0)"
    )
    p.add_argument(
        "--inventory", metavar="TESTBED", help="testbed description (TOML) instead of the configured one"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="run quietly")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def _vlan_id(text: str) -> int:
    from kavlan_core.dhcp.config import DhcpConfigError

    try:
        return int(text)
    except ValueError:
        if text.strip().upper() == "DEFAULT":
            raise DhcpConfigError(
                "the DEFAULT VLAN has no KaVLAN DHCP config: choose a VLAN from 1 to 21"
            ) from None
        raise DhcpConfigError(f"VLAN {text!r} is not a VLAN id: choose a VLAN from 1 to 21") from None


def run(args: argparse.Namespace) -> int:
    from kavlan_core import config, inventory
    from kavlan_core.dhcp import config as dhcp

    settings = config.load(inventory=args.inventory)
    inv = inventory.load(settings.inventory)
    site = args.site or settings.site or next(iter(inv.sites))
    vlans = [_vlan_id(args.vlan_id)] if args.vlan_id is not None else dhcp.site_vlans(inv, site)
    formats = list(dhcp.FORMATS) if args.format == "all" else [args.format]
    # render everything first: a bad site or VLAN writes nothing
    plans = {vid: dhcp.plan(inv, site, vid, args.next_server) for vid in vlans}
    if args.output == "-":
        if len(vlans) * len(formats) != 1:
            raise dhcp.DhcpConfigError("-o - prints one config: give one --vlan-id and one --format")
        sys.stdout.write(
            dhcp.render(
                inv, site, vlans[0], formats[0], next_server=args.next_server, interface=args.interface
            )
        )
    else:
        for vid in vlans:
            paths = dhcp.write_configs(
                inv,
                site,
                vid,
                args.output,
                formats=formats,
                next_server=args.next_server,
                interface=args.interface,
            )
            if not args.quiet:
                for path in paths:
                    print(f"generating {path}")
    if not args.quiet:
        for p in plans.values():
            for why in p.skipped:
                sys.stderr.write(f"{PROG}: warning: {why}, left out\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from .present import run_guarded

    args = build_parser().parse_args(argv)
    return run_guarded(PROG, lambda: _written(args), debug=args.debug)


def _written(args: argparse.Namespace) -> int:
    """``run``, a file that cannot be written being one sentence too."""
    try:
        return run(args)
    except BrokenPipeError:
        raise  # the output went away: run_guarded ends quietly
    except OSError as exc:
        if args.debug:
            raise
        target = f" {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"{PROG}: cannot write{target}: {exc.strerror}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
