"""Reading a server's JSON, and writing records back, without letting its nesting reach Python's recursion limit.

The services' real answers are a few levels deep; 100 levels is far beyond any of them. Deeper JSON is refused
with one line instead of a RecursionError from the decoder (or, later, from ``json.dumps`` of the record).
"""

from __future__ import annotations

import json
from typing import Any

from neurofetch.errors import RemoteDataError

MAX_DEPTH = 100


def loads(data: bytes | str, what: str) -> Any:
    """Decode JSON from a server; ValueError when it is not JSON, RemoteDataError when it is nested too deeply."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise RemoteDataError(too_deep(what)) from None
    if deeper_than(value, MAX_DEPTH):
        raise RemoteDataError(too_deep(what))
    return value


def too_deep(what: str) -> str:
    return f"{what}: the JSON is nested deeper than {MAX_DEPTH} levels; refused"


def deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels deep (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def dumps_record(value: Any, what: str) -> bytes:
    """A record as written to disk (indented UTF-8 JSON); RemoteDataError when it is nested too deeply to write."""
    # Records are the server's JSON plus at most a level or two of ours around it.
    if deeper_than(value, MAX_DEPTH + 2):
        raise RemoteDataError(f"{what}: the record is nested deeper than {MAX_DEPTH} levels; not written")
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
