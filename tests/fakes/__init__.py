"""Protocol peers that tests talk to on loopback: fake switches, never real ones."""
