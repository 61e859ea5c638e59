"""The WSGI callables' types (PEP 3333), as the rest of ``frontdesk.interfaces.wsgi`` uses them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeAlias

from frontdesk.http.prepared import PreparedHead

if TYPE_CHECKING:
    from frontdesk.http.exchange import Exchange

Environ: TypeAlias = dict[str, Any]
ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
#: ``write(data)``, the legacy body callable that ``start_response`` returns
Write: TypeAlias = Callable[[bytes], None]
StartResponse: TypeAlias = Callable[..., Write]
WSGIApp: TypeAlias = Callable[[Environ, StartResponse], Iterable[bytes]]
#: the final status and the header fields, checked and encoded, for ``Exchange.start_prepared``
Head: TypeAlias = PreparedHead
#: something the inline runner awaits between steps of a response (a drain, a sendfile)
Wait: TypeAlias = Coroutine[Any, Any, None]


class Sink(Protocol):
    """Where a response cycle puts its response: the exchange itself on the loop thread
    (inline mode) or a channel to the loop from a worker thread (threads mode).

    ``head`` is given with the first bytes (or the end) of the response and None after.
    Methods that return a ``Wait`` leave the waiting to the caller (the inline runner awaits
    it on the loop); a sink on a worker thread waits itself and returns None. ``end``,
    ``fail`` and ``abort`` finish the exchange; exactly one of them ends every cycle.
    ``exchange`` is read only to name the request in log records (its request id).
    """

    exchange: Exchange

    def write(self, head: Head | None, data: bytes) -> None: ...
    def pause(self) -> Wait | None: ...
    def sendfile(
        self, head: Head | None, file: BinaryIO, offset: int, count: int
    ) -> Wait | None: ...
    def end(self, head: Head | None, data: bytes) -> None: ...
    def fail(self) -> None: ...
    def abort(self) -> None: ...
