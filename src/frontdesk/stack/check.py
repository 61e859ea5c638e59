"""``frontdesk check``: everything a start would refuse, found without starting, like nginx -t.

Loading the config has already checked every setting and every table of the file (unknown
keys, types, names, conflicting routes). What is left is what only the disk can answer: the
directories static routes serve and apps are imported from, the certificate and key, and the
site the edge would build from it all. Nothing is bound, forked or imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from frontdesk.config.model import Config
from frontdesk.errors import ConfigError

from .plan import plan_stack

__all__ = ["check"]


def check(config: Config, app_path: str | None) -> str:
    """ConfigError naming the first problem; else a few words on what was checked."""
    from frontdesk.edge.run import validate

    layout = config.layout
    for route in layout.routes:
        if route.static is not None and not os.path.isdir(route.static):
            raise ConfigError(
                f"{route.where}: route {route.prefix}: static directory {route.static} "
                "does not exist or is not a directory"
            )
    for entry in layout.apps:
        if entry.app_dir is not None and not os.path.isdir(entry.app_dir):
            raise ConfigError(
                f"{entry.where}: app {entry.name}: app_dir {entry.app_dir} is not a directory"
            )
    for name in ("certfile", "keyfile"):
        path = getattr(config, name)
        if path and not os.path.isfile(path):
            raise ConfigError(f"{name} = {path} ({config.source(name)}): no such file")
    if app_path is not None or layout.apps:
        runtime = tempfile.mkdtemp(prefix="frontdesk-check-")
        try:
            plan = plan_stack(config, app_path, runtime)
            tls = validate(plan.edge)
        finally:
            shutil.rmtree(runtime, ignore_errors=True)
        apps = ", ".join(f"{p.entry.name} ({p.config.workers} workers)" for p in plan.apps)
        return f"stack: edge{' with TLS' if tls else ''}, apps {apps}"
    if config.static or config.proxy or layout.upstreams or layout.routes:
        tls = validate(config)
        return f"edge{' with TLS' if tls else ''}"
    return "settings"
