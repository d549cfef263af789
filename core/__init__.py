"""kavlan_core: the embedded KaVLAN core; no face (TUI, REPL, CLI) is imported from here."""

__version__ = "0.1.0"
