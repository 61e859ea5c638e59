"""Request filters for the edge: each wraps any core ``Handler`` and is a ``Handler`` itself.

Compose them by nesting, outermost first, the way nginx applies its phases::

    handler = AccessFilter(
        RateLimitFilter(
            ConnectionLimitFilter(
                MethodFilter(CompressionFilter(HstsFilter(app)), {"/api": ["GET", "POST"]}),
                limit=10,
            ),
            rate=10,
            burst=20,
        ),
        [("allow", "10.0.0.0/8"), ("deny", "all")],
    )

- ``access``: allow/deny by CIDR, first match wins (403);
- ``ratelimit``: token buckets per client (429 with Retry-After; optional delaying queue);
- ``connlimit``: concurrent requests per client (503 by default);
- ``methods``: allowed methods per path prefix (405 with Allow);
- ``compress``: gzip/brotli response compression (with ``negotiate``, ``encoders``);
- ``hsts``: Strict-Transport-Security on https responses;
- ``redirect``: the http listener's redirect to https.

Filters that change responses hand their inner handler an ``ExchangeProxy`` (``proxy``).
"""

from __future__ import annotations

from frontdesk.edge.filters.access import AccessFilter
from frontdesk.edge.filters.compress import CompressingExchange, CompressionFilter
from frontdesk.edge.filters.connlimit import ConnectionLimitFilter
from frontdesk.edge.filters.hsts import HstsFilter
from frontdesk.edge.filters.methods import MethodFilter
from frontdesk.edge.filters.proxy import ExchangeProxy
from frontdesk.edge.filters.ratelimit import RateLimitFilter, TokenBuckets
from frontdesk.edge.filters.redirect import HttpsRedirect

__all__ = [
    "AccessFilter",
    "CompressingExchange",
    "CompressionFilter",
    "ConnectionLimitFilter",
    "ExchangeProxy",
    "HstsFilter",
    "HttpsRedirect",
    "MethodFilter",
    "RateLimitFilter",
    "TokenBuckets",
]
