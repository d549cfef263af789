"""The one-machine lab: stand-ins for real switches and servers that tests and the lab builder start on loopback."""
