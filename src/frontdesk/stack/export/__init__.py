"""Exports for bigger deployments: the same config as nginx, systemd or Kubernetes files.

``frontdesk run`` is the whole stack in one command. Where a deployment wants its parts
managed by the usual tools instead, these describe the same stack in their terms:

- ``export_nginx``: an nginx.conf doing the edge's job, in front of each app's
  ``frontdesk serve`` on a unix socket;
- ``export_systemd``: a ``frontdesk.service`` unit running ``frontdesk run`` (sd_notify,
  reload on HUP, graceful stop);
- ``export_kubernetes``: a Deployment and a Service running ``frontdesk run`` in a
  container, with probes on the edge's status path.

Each takes the resolved ``Config`` and APP (or None for the file's ``[[apps]]``), returns
text, and raises ``ConfigError`` (one line) for what the target cannot express.
"""

from __future__ import annotations

from .kubernetes import export_kubernetes
from .nginx import export_nginx
from .systemd import export_systemd

__all__ = ["export_kubernetes", "export_nginx", "export_systemd"]
