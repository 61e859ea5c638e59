"""Static files for ``frontdesk edge``: nginx's ``root``/``alias`` locations as a core ``Handler``.

::

    StaticFiles("/static/", "/srv/www")                  # /static/a.css -> /srv/www/static/a.css
    StaticFiles("/assets/", "/srv/build", alias=True)    # /assets/a.css -> /srv/build/a.css

What a request gets (RFC 9110, and nginx where the RFC leaves a choice):

- GET and HEAD; any other method 405 with ``Allow: GET, HEAD``.
- A directory URL without its slash: 301 to the slash form (query kept); with it, the first
  of ``index`` that is a file, else 403 (no listings, as nginx without ``autoindex``).
  Missing: 404. Unreadable (EACCES on a directory or the file): 403.
- Path safety (``paths``): split on ``/`` before decoding once as UTF-8; ``.``/``..`` in any
  spelling, encoded ``/`` or ``\\``, backslashes, NUL and controls: 404; malformed escapes
  and non-UTF-8: 400. Then the resolved path (``realpath``) must lie under the resolved root
  (``commonpath``) unless ``follow_symlinks_outside``; a symlink out is a 404. The root's own
  resolution is refreshed every ``valid`` seconds, so a swapped ``current`` symlink works.
- Validators: ``ETag: "<hex mtime ns>-<hex size>"`` (a precompressed sibling's tag adds its
  coding) and Last-Modified (never later than now). Preconditions in RFC 9110 13.2.2's
  order: If-Match and If-Unmodified-Since (412), If-None-Match (weak comparison, lists,
  ``*``) and If-Modified-Since only without If-None-Match (304).
- Range on GET only: one range 206 + Content-Range; several, coalesced when overlapping or
  within 80 bytes, a ``multipart/byteranges`` 206; none satisfiable 416 +
  ``Content-Range: bytes */size``; invalid or more than ``max_ranges`` specs: ignored (200).
  If-Range by strong ETag or exact, strong Last-Modified date; otherwise the whole file.
- ``precompressed``: ``name.br``/``name.gz`` next to the file are sent by Accept-Encoding
  q-values (``br`` first on a tie, ``q=0`` excludes) with Content-Encoding; the 200, 206,
  304 and 416 answers for a file with siblings carry ``Vary: Accept-Encoding``. Range
  requests always get the identity file (its own ETag), so a byte range never mixes two
  representations. The file itself must exist; a stale sibling is the deployer's business
  (as with nginx).
- Content-Type from ``mime`` (``; charset=utf-8`` on text types), ``X-Content-Type-Options:
  nosniff`` (``nosniff``), ``Cache-Control`` from ``cache_control`` on 200, 206 and 304.
- Bodies: up to 16 KiB read with one ``pread`` and written with the head; larger through
  ``Exchange.sendfile`` (``os.sendfile`` on asyncio, copied by ``pread`` on uvloop) from a
  descriptor shared through ``FileCache`` (nginx's ``open_file_cache``), never by its shared
  file position. A file truncated under a response closes the connection.
- stat/open/realpath run inline on the loop: microseconds on a local disk, and cached.
"""

from __future__ import annotations

from frontdesk.edge.static.cache import FileCache
from frontdesk.edge.static.handler import StaticFiles

__all__ = ["FileCache", "StaticFiles"]
