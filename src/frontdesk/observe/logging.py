"""Process logging: one line per record on stderr, with the level from ``--log-level``."""

from __future__ import annotations

import logging
import sys

LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


def setup_logging(level: str) -> None:
    root = logging.getLogger("frontdesk")
    root.setLevel(LEVELS[level])
    if not any(getattr(h, "_frontdesk", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
        )
        handler._frontdesk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
