"""The widgets of kavlan-tui, one per module."""
