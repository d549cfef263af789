"""The TUI's themes as data (themes.toml) and its layout stylesheet (kavlan.tcss), shipped as package data."""
