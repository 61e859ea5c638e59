"""Side-by-side benchmarks of frontdesk against peer servers (run with ``python -m bench``).

Never imported by the package or its tests, except ``tests/bench`` which checks the wrk parser.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
