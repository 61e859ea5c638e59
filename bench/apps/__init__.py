"""The apps served by every target. Each scenario's apps answer byte-for-byte alike."""

from __future__ import annotations
