"""Helpers for the `ls` and `--from-manifest` tests: tables as written, and what a run fetched (its journal)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def jsonl_rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def fetched(dest: Path) -> dict[str, int]:
    """Path → size of every file the journal of ``dest`` records as downloaded."""
    journal = dest / ".neurofetch" / "state.sqlite3"
    with sqlite3.connect(journal) as db:
        return dict(db.execute("SELECT path, size FROM files").fetchall())


def listed(rows: list[dict[str, Any]]) -> dict[str, int | None]:
    return {row["path"]: row["size"] for row in rows}


def assert_rows_match(rows: list[dict[str, Any]], got: dict[str, int]) -> None:
    """The rows are exactly the files fetched: same paths, same count, and the sizes a row knows are right."""
    assert len(rows) == len({r["path"] for r in rows})
    assert set(listed(rows)) == set(got)
    for path, size in listed(rows).items():
        assert size is None or size == got[path], path


def everything_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}
