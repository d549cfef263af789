"""Switch drivers behind one SwitchDriver contract."""
