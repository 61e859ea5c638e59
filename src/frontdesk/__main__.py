"""``python -m frontdesk`` is the same as the ``frontdesk`` command."""

from __future__ import annotations

from frontdesk.cli import main

raise SystemExit(main())
