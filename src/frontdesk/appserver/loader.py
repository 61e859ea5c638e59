"""Importing the app named ``module:attribute`` (``--app-dir``, ``--factory``)."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from frontdesk.errors import AppLoadError


def import_app(path: str, *, app_dir: str = ".", factory: bool = False) -> Any:
    """The object at ``module:attr`` (attr may be dotted). Raises AppLoadError, one line."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise AppLoadError(f"app {path!r} must be given as 'module:attribute', e.g. 'main:app'")
    directory = os.path.abspath(app_dir)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(
                f"cannot import module {module_name!r} (looked in {directory} and sys.path)"
            ) from exc
        raise AppLoadError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise AppLoadError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attr!r}") from None
    if factory:
        try:
            obj = obj()
        except Exception as exc:
            raise AppLoadError(f"app factory {path} failed: {type(exc).__name__}: {exc}") from exc
    if not callable(obj):
        raise AppLoadError(f"{path} is not an application: {type(obj).__name__} is not callable")
    return obj
