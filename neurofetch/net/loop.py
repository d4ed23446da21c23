"""Running a run's coroutine: on uvloop where it exists, whose event loop costs a fraction of asyncio's own."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows): the standard loop does the same, slower
        return asyncio.run(main)
    return uvloop.run(main)
