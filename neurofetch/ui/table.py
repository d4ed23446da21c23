"""Where an `ls` table goes: a rich table on a terminal, else TSV/CSV/JSON lines/JSON/Parquet on stdout or in a
file, written row by row as the rows arrive (a terminal table is drawn once the listing is complete)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neurofetch.transfer.catalog import Column, TableWriter, open_output, table_format
from neurofetch.ui.text import printable

TERMINAL_ROWS = 10_000  # a terminal table beyond this is unreadable: the rest is counted, not drawn


class TableOutput:
    def __init__(self, fmt: str | None, columns: Sequence[Column], path: Path | None) -> None:
        self.columns = list(columns)
        self.fmt = table_format(fmt, path, terminal=path is None and sys.stdout.isatty())
        if self.fmt == "parquet" and path is None and sys.stdout.isatty():
            from neurofetch.errors import UsageError

            raise UsageError("Parquet is binary: write it to a file with -o FILE.parquet")
        self._held: list[Mapping[str, Any]] = []
        self._more = 0
        self._stream: Any = None
        self._writer: TableWriter | None = None
        if self.fmt != "table":
            self._stream = (
                open_output(path, self.fmt)
                if path is not None
                else (sys.stdout.buffer if self.fmt == "parquet" else sys.stdout)
            )
            self._writer = TableWriter(self.fmt, self.columns, self._stream)
        self._owns_stream = path is not None

    def write(self, row: Mapping[str, Any]) -> None:
        if self._writer is not None:
            self._writer.write(row)
            if self._writer.fmt in ("tsv", "csv", "jsonl") and not self._owns_stream:
                self._stream.flush()  # a pipe reader (head, awk) sees each row as it is found
        elif len(self._held) < TERMINAL_ROWS:
            self._held.append(row)
        else:
            self._more += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            if self._owns_stream:
                self._stream.close()
            return
        self._draw()

    def _draw(self) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, header_style="bold")
        for column in self.columns:
            table.add_column(column.name, overflow="fold")  # a path cut short would be a wrong path
        for row in self._held:
            table.add_row(*[Text(cell_text(row.get(c.name))) for c in self.columns])
        console = Console(highlight=False)
        console.print(table)
        if self._more:
            console.print(f"... and {self._more} more rows: write them with --format tsv or -o FILE", markup=False)


def cell_text(value: Any) -> str:
    """A value as a terminal cell: lists joined, control characters from a server shown as escapes."""
    if value is None:
        return ""
    if isinstance(value, list):
        return printable(";".join(str(v) for v in value))
    return printable(str(value))
