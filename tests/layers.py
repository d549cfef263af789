"""The test layers: which layer each test is in, decided here in one place (conftest applies it at collection), so
that a new test lands in a layer without anyone remembering a decorator.

- ``unit``: in-process, needs only what ``pip install -e '.[test]'`` installs: no server, no Debian package, no root.
- ``peers``: real protocol peers: snmpd, snmpsim, asyncssh servers on loopback, dhcpd / dnsmasq / Kea, PostgreSQL,
  ``kavlan-api`` subprocesses, the console scripts run as subprocesses.
- ``tui``: the Textual app driven with Pilot, and its SVG snapshots.
- ``lab``: root and network namespaces.
- ``quick``: not a layer of its own but the quick layer: the ``unit`` tests that are not ``slow``
  (``python -m pytest -m quick``, under a minute on two cores).

A test's layers come from, in this order: its own layer marker (a decorator, where a test wants one), else
``TESTS``, else ``MODULES``, else ``unit``; then a test that uses a peer (a fixture of ``PEER_FIXTURES``, or the
PostgreSQL value of the ``backend`` parameter) is in ``peers`` too. ``unit`` means no other layer, so it is dropped
when another one applies. ``slow`` stays a decorator of its own, orthogonal to the layers.

tests/test_quality.py checks that the tables name only modules and tests that exist, and the end of every run names
the quick tests slower than conftest's QUICK_TEST_SECONDS (a test that starts a server inline lands here otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

LAYERS = ("unit", "peers", "tui", "lab")
QUICK = "quick"
SLOW = "slow"

MODULES: Mapping[str, tuple[str, ...]] = {
    "test_access.py": ("peers",),
    "test_api_concurrency.py": ("peers",),
    "test_api_enoslib.py": ("peers",),
    "test_api_availability.py": ("peers",),
    "test_api_bruteforce.py": ("peers",),
    "test_api_grid5000.py": ("peers",),
    "test_api_hostile.py": ("peers",),
    "test_api_schemathesis.py": ("peers",),
    "test_api_security.py": ("peers",),
    "test_api_server.py": ("peers",),
    "test_cli.py": ("peers",),
    "test_monitor_cli.py": ("peers",),
    "test_cli_corpus.py": ("peers",),
    "test_crash.py": ("peers",),
    "test_dhcp_config.py": ("unit",),
    "test_dnsmasq.py": ("unit",),
    "test_lab.py": ("lab",),
    "test_lab_deploy.py": ("lab",),
    "test_lab_enoslib.py": ("lab",),
    "test_lab_grid.py": ("lab",),
    "test_lab_stranding.py": ("lab",),
    "test_lab_tutorial.py": ("lab",),
    "test_linux_bridge.py": ("lab",),
    "test_lab_monitor.py": ("lab",),
    "test_remote.py": ("peers",),
    "test_remote_sites.py": ("peers",),
    "test_remote_tui.py": ("peers", "tui"),
    "test_service_snmp.py": ("peers",),
    "test_service_ssh.py": ("peers",),
    "test_snmp_corpus.py": ("peers",),
    "test_snmp_order.py": ("peers",),
    "test_snmp_qbridge.py": ("peers",),
    "test_snmp_monitor.py": ("peers",),
    "test_snmpsim.py": ("peers",),
    "test_ssh_cli.py": ("peers",),
    "test_ssh_cli_monitor.py": ("peers",),
    "test_store_faults.py": ("peers",),
    "test_store_pg.py": ("peers",),
    "test_tui.py": ("tui",),
    "test_tui_board.py": ("tui",),
    "test_tui_grid.py": ("tui",),
    "test_tui_lab.py": ("lab", "tui"),
    "test_tui_snapshots.py": ("tui",),
    "test_tui_monitor.py": ("tui",),
    "test_tutorial.py": ("peers",),
    "test_tutorial_grid.py": ("peers",),
    "test_remote_grid.py": ("peers",),
}
"""Modules whose tests are not ``unit`` (a module not named here is ``unit``)."""

TESTS: Mapping[str, tuple[str, ...]] = {
    # the pure parts of peer modules: no server is started
    "test_access.py::test_route_local_vlan_goes_through_its_gateway": ("unit",),
    "test_access.py::test_ssh_config_proxycommand_is_the_tutorials_block": ("unit",),
    "test_access.py::test_ssh_config_proxyjump_and_known_gateways": ("unit",),
    "test_access.py::test_terminal_pieces_restore_on_error": ("unit",),
    "test_access.py::test_forward_resize_calls_back_and_restores_the_handler": ("unit",),
    "test_api_server.py::test_openapi_is_valid_and_lists_exactly_the_routes": ("unit",),
    "test_lab.py::test_the_lab_topology_keeps_local_vlans_off_the_router_and_names_short": ("unit",),
    "test_lab.py::test_kavlan_lab_says_it_needs_root": ("unit",),
    "test_lab.py::test_kavlan_lab_acts_on_the_lab_its_prefix_names_or_says_why_not": ("unit",),
    "test_lab_grid.py::test_two_sites_have_their_own_namespaces_and_a_trunk_of_global_vlans_only": ("unit",),
    "test_lab_grid.py::test_the_lab_builds_the_first_site_alone_unless_told_and_refuses_what_it_cannot_build": (
        "unit",
    ),
    "test_lab_grid.py::test_kavlan_lab_exec_takes_a_host_or_a_site_not_both": ("unit",),
    "test_snmp_order.py::test_the_data_is_as_the_comments_say": ("unit",),
    "test_snmp_qbridge.py::test_registered_under_its_name": ("unit",),
    "test_snmp_qbridge.py::test_bad_credentials_are_refused_before_any_traffic": ("unit",),
    "test_snmp_qbridge.py::test_agent_speaks_pass_persist": ("unit",),
    "test_snmp_qbridge.py::test_agent_walks_in_oid_order": ("unit",),
    "test_snmp_qbridge.py::test_agent_drops_writes_to_chosen_ports": ("unit",),
    "test_snmp_qbridge.py::test_agent_refuses_ports_it_does_not_have": ("unit",),
    "test_snmp_qbridge.py::test_addresses": ("unit",),
    "test_ssh_cli.py::test_error_messages_name_ports_exactly": ("unit",),
    "test_ssh_cli.py::test_error_patterns_tell_refusals_from_notices": ("unit",),
    "test_ssh_cli.py::test_registry_and_unknown_dialect": ("unit",),
    "test_ssh_cli_monitor.py::test_every_dialect_has_its_monitoring_commands": ("unit",),
    "test_ssh_cli.py::test_type_ahead_option_is_checked": ("unit",),
    "test_ssh_cli.py::test_records_split_an_echoed_stream_at_prompts": ("unit",),
    "test_ssh_cli.py::test_unexpected_lines_are_the_accepted_ones_never_sent": ("unit",),
    "test_ssh_cli.py::test_load_errors_read_junos_own_words": ("unit",),
    "test_ssh_cli.py::test_dialects_are_checked_when_defined": ("unit",),
    "test_store_pg.py::test_the_lock_deadline_is_one_sentence_and_changes_nothing": ("unit",),
    # the parts of unit modules that run a peer
    "test_config_store.py::test_concurrent_reservations_never_double_book": ("peers",),  # console scripts
    "test_dhcp_config.py::test_the_server_accepts_the_config": ("peers",),  # dhcpd, dnsmasq, kea-dhcp4
    "test_dhcp_config.py::test_dnsmasq_config_with_dns_passes_its_check": ("peers",),
    "test_dnsmasq.py::test_dnsmasq_serves_the_nodes_fixed_address_end_to_end": ("lab",),
    "test_shell.py::test_batch_session_reserve_move_release": ("peers",),  # kavlan-shell as a subprocess
    "test_shell.py::test_batch_error_is_one_line_and_the_shell_goes_on": ("peers",),
    "test_drift.py::test_drift_and_repair_on_the_command_line_with_a_switch_that_does_not_answer": ("peers",),
    "test_drift.py::test_an_snmp_switch_that_does_not_answer": ("peers",),  # kavlan, and an SNMP request
    "test_drift.py::test_a_dry_run_that_cannot_read_a_switch_says_so_per_node": ("peers",),  # kavlan
    "test_api_errors.py::test_drift_and_repair_through_a_switch_that_does_not_answer": (
        "peers",
    ),  # kavlan-api
    # a tmpfs in a mount namespace of its own: root
    "test_store_faults.py::test_a_database_on_a_read_only_file_system": ("lab",),
    "test_store_faults.py::test_a_disk_that_fills_before_the_intent_lets_no_switch_be_touched": ("lab",),
    "test_store_faults.py::test_a_disk_that_fills_during_a_move_is_settled_by_the_next_command": ("lab",),
}
"""Single tests whose layers differ from their module's, as ``module::function``."""

PEER_FIXTURES = frozenset({"pg_server", "pg_url", "snmpd", "api_server", "api_certs"})
"""Fixtures that start (or stand for) a real peer: a test using one is in ``peers``."""


def layers_of(module: str, function: str, fixtures: Iterable[str], params: Mapping[str, object]) -> set[str]:
    """The layers of one test (without its own markers), from the tables and from the peers it uses."""
    layers = set(TESTS.get(f"{module}::{function}", MODULES.get(module, ("unit",))))
    if PEER_FIXTURES.intersection(fixtures) or params.get("backend") == "postgresql":
        layers.add("peers")
    return layers - {"unit"} if len(layers) > 1 else layers


def assign(items: Iterable[pytest.Item]) -> None:
    """Mark every collected test with its layers, and the ``unit`` tests that are not ``slow`` as ``quick``."""
    for item in items:
        own = {m.name for m in item.iter_markers() if m.name in LAYERS}
        if own:
            layers = own - {"unit"} if len(own) > 1 else own
        else:
            callspec = getattr(item, "callspec", None)
            layers = layers_of(
                item.path.name,
                getattr(item, "originalname", item.name),
                getattr(item, "fixturenames", ()),
                callspec.params if callspec is not None else {},
            )
        for layer in sorted(layers - own):
            item.add_marker(layer)
        if layers == {"unit"} and item.get_closest_marker(SLOW) is None:
            item.add_marker(QUICK)
