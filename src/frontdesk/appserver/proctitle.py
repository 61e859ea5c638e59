"""Process titles (``frontdesk: worker app:app``) in ps and top, when setproctitle is installed.

setproctitle is optional: without it titles are left as they are, silently.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["set_title"]

_setter: Callable[[str], None] | None
try:
    from setproctitle import setproctitle as _setter
except ImportError:  # optional dependency
    _setter = None


def set_title(role: str, detail: str = "") -> None:
    """Title this process ``frontdesk: ROLE DETAIL``."""
    if _setter is not None:
        _setter(f"frontdesk: {role} {detail}".rstrip())
