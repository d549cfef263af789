"""kavlan_tui: the faces of kavlan (Textual app, seed-compatible kavlan CLI, prompt-toolkit REPL, OAR-like commands)."""
