"""Reaching nodes over SSH: routes through local VLAN gateways, commands on many nodes, OpenSSH config."""
