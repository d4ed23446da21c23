"""Where `neurofetch index` puts its table: stdout or a file, in a table format, as sha256sum lines, or as a rich
table on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neurofetch.transfer.catalog import Column, open_output, table_format
from neurofetch.transfer.local_index import write_sha256sum
from neurofetch.ui.table import TableOutput, cell_text
from neurofetch.ui.text import human_bytes, printable

SHA256SUM = "sha256sum"
TERMINAL_META_COLUMNS = 4  # on a terminal: the first few metadata columns; the formats have them all


def index_format(explicit: str | None, output: Path | None) -> str:
    """--format as typed: sha256sum or a table format; without one, the output file's suffix or the terminal's."""
    if explicit is not None and explicit.lower() == SHA256SUM:
        return SHA256SUM
    return table_format(explicit, output, terminal=sys.stdout.isatty())


def write_index(
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    output: Path | None,
    *,
    no_color: bool = False,
) -> None:
    if fmt == "table":
        _print_terminal_table(columns, rows, no_color=no_color)
        return
    if fmt != SHA256SUM:
        table = TableOutput(fmt, columns, output)
        for row in rows:
            table.write(row)
        table.close()
        return
    stream: Any = open_output(output, "tsv") if output is not None else sys.stdout
    try:
        write_sha256sum(((row["sha256"], row["path"]) for row in rows), stream)
    finally:
        if output is not None:
            stream.close()


def _print_terminal_table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], *, no_color: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    extra = [
        c.name for c in columns if c.name not in ("path", "size", "sha256", "service", "source_url", "fetched_at")
    ][:TERMINAL_META_COLUMNS]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("path", "size", "sha256", "fetched_at", *extra):
        table.add_column(name, justify="right" if name == "size" else "left", overflow="fold")
    for row in rows:
        cells = [printable(row["path"]), human_bytes(row["size"]), row["sha256"][:12], row["fetched_at"] or ""]
        cells += [cell_text(row.get(name)) for name in extra]
        table.add_row(*cells)
    Console(no_color=no_color or None, highlight=False).print(table)
