"""Per-VLAN DHCP: config rendering (ISC dhcpd as the tutorial's script makes it, dnsmasq, Kea) and dnsmasq servers."""
