"""``python -m kavlan_core.api.server``: the ``kavlan-api`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
