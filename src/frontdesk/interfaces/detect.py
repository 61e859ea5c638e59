"""Which contract an app object speaks: ASGI 3, ASGI 2 (a class called with the scope), or WSGI."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal, cast

from frontdesk.interfaces.asgi.types import ASGIApp, Receive, Scope, Send

Interface = Literal["asgi3", "asgi2", "wsgi"]


def _call_target(app: Any) -> Callable[..., Any] | None:
    if inspect.isfunction(app) or inspect.ismethod(app):
        return app
    call = getattr(app, "__call__", None)  # noqa: B004 - an instance's __call__ is what runs
    return call if callable(call) else None


def detect(app: Any) -> Interface:
    """Guess the interface from the call signature, the way the field's servers do."""
    if inspect.isclass(app):
        # An ASGI 2 app is a class instantiated with the scope, awaited with (receive, send).
        init = getattr(app, "__init__", None)
        if init is not None and len(_positional(init)) == 2:  # self, scope
            return "asgi2"
    target = _call_target(app)
    if target is None:
        raise TypeError(f"{app!r} is not callable")
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(app):
        return "asgi3"
    params = _positional(target)
    if len(params) == 3:
        return "asgi3"
    if len(params) == 1:
        return "asgi2"
    return "wsgi"


def _positional(func: Callable[..., Any]) -> list[str]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [
        name
        for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def as_asgi3(app: Any, interface: Interface) -> ASGIApp:
    """Wrap an ASGI 2 app in the ASGI 3 single callable."""
    if interface == "asgi3":
        return cast(ASGIApp, app)

    async def asgi2_adapter(scope: Scope, receive: Receive, send: Send) -> None:
        instance = app(scope)
        await instance(receive, send)

    return asgi2_adapter
