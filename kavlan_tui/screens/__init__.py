"""The screens of kavlan-tui: main board, staged-move dialog, report, reservation form, help, pickers."""
