"""Tables in and out: the rows `ls` and `index` write (TSV, CSV, JSON lines, JSON, Parquet) and the manifests
`--from-manifest` reads back. Rows stream through a writer one at a time, so a listing of 100,000 keys keeps
flat memory; the rich table on a terminal is drawn by ui/, not here.

A table has named, typed columns. Values are ``None`` (empty), ``str``, ``int``, ``float``, ``bool`` or a list of
strings (tags): a list is one ``;``-joined cell in TSV/CSV and a real list in JSON and Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from neurofetch.errors import UsageError

Kind = Literal["str", "int", "float", "bool", "list"]
FORMATS = ("tsv", "csv", "jsonl", "json", "parquet")
SUFFIXES = {
    ".tsv": "tsv",
    ".tab": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
LIST_SEPARATOR = ";"
PARQUET_BATCH = 4096
PARQUET_EXTRA = "pip install 'neurofetch[parquet]'"


class TableError(UsageError):
    """A table that cannot be read (malformed, unknown format, a missing column): exit 2, naming line and column."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "str"


def table_format(explicit: str | None, path: Path | None, *, terminal: bool) -> str:
    """The format to write: ``explicit`` if given, else the output file's suffix, else "table" on a terminal and
    TSV otherwise (what awk, cut and pandas.read_table read)."""
    if explicit:
        fmt = explicit.lower()
        if fmt not in (*FORMATS, "table"):
            raise UsageError(f"unknown --format {explicit!r}; use one of: table, {', '.join(FORMATS)}")
        return fmt
    if path is not None:
        return SUFFIXES.get(path.suffix.lower(), "tsv")
    return "table" if terminal else "tsv"


class TableWriter:
    """Writes rows in one format to a text stream (a binary one for Parquet); ``close()`` finishes the table."""

    def __init__(self, fmt: str, columns: Sequence[Column], stream: IO[Any]) -> None:
        if fmt not in FORMATS:
            raise UsageError(f"cannot write a table as {fmt!r}; use one of: {', '.join(FORMATS)}")
        self.fmt, self.columns, self._stream = fmt, list(columns), stream
        self.rows = 0
        self._csv: Any = None
        self._parquet: _ParquetSink | None = None
        if fmt in ("tsv", "csv"):
            self._csv = csv.writer(stream, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
            self._csv.writerow([c.name for c in self.columns])
        elif fmt == "json":
            stream.write("[")
        elif fmt == "parquet":
            self._parquet = _ParquetSink(self.columns, stream)

    def write(self, row: Mapping[str, Any]) -> None:
        values = [_checked(row.get(c.name), c) for c in self.columns]
        if self._csv is not None:
            self._csv.writerow([_cell(v) for v in values])
        elif self._parquet is not None:
            self._parquet.add(values)
        else:
            record = json.dumps(dict(zip((c.name for c in self.columns), values, strict=True)), ensure_ascii=False)
            if self.fmt == "json":
                self._stream.write(("\n  " if self.rows == 0 else ",\n  ") + record)
            else:
                self._stream.write(record + "\n")
        self.rows += 1

    def write_all(self, rows: Iterable[Mapping[str, Any]]) -> int:
        for row in rows:
            self.write(row)
        return self.rows

    def close(self) -> None:
        if self.fmt == "json":
            self._stream.write("\n]\n" if self.rows else "]\n")
        elif self._parquet is not None:
            self._parquet.close()
        self._stream.flush()


def read_table(path: Path, fmt: str | None = None) -> Iterator[dict[str, Any]]:
    """The rows of a table written by `ls` (or edited since: filtered, reordered, re-saved by pandas or Excel).

    TSV/CSV cells come back as strings ("" for empty); JSON keeps its types. Errors name the file, line and column.
    """
    fmt = fmt or SUFFIXES.get(path.suffix.lower()) or _sniff(path)
    if fmt == "parquet":
        yield from _read_parquet(path)
        return
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise TableError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            if fmt in ("tsv", "csv"):
                yield from _read_delimited(path, handle, "\t" if fmt == "tsv" else ",")
            elif fmt == "jsonl":
                yield from _read_jsonl(path, handle)
            elif fmt == "json":
                yield from _read_json(path, handle)
            else:
                raise TableError(f"{path}: unknown table format {fmt!r}; use one of: {', '.join(FORMATS)}")
        except UnicodeDecodeError:
            raise TableError(f"{path} is not UTF-8 text") from None


def _checked(value: Any, column: Column) -> Any:
    if value is None or value == "":
        return None
    if column.kind == "list":
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value]
    if column.kind == "int" and not isinstance(value, bool):
        return int(value)
    if column.kind == "float":
        number = float(value)
        return number if math.isfinite(number) else None
    if column.kind == "bool":
        return bool(value)
    return value if isinstance(value, str) else str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sniff(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise TableError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl"
    first_line = head.split(b"\n", 1)[0]
    return "tsv" if b"\t" in first_line or b"," not in first_line else "csv"


def _read_delimited(path: Path, handle: IO[str], delimiter: str) -> Iterator[dict[str, Any]]:
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header or not any(header):
            raise TableError(f"{path}: the table is empty (no header line)")
        names = [name.strip() for name in header]
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(names):
                raise TableError(
                    f"{path}, line {reader.line_num}: {len(row)} columns where the header has {len(names)}"
                )
            yield dict(zip(names, row, strict=True))
    except csv.Error as exc:
        raise TableError(f"{path}, line {reader.line_num}: {exc}") from None


def _read_jsonl(path: Path, handle: IO[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        yield _json_row(path, line, number)


def _read_json(path: Path, handle: IO[str]) -> Iterator[dict[str, Any]]:
    try:
        rows = json.load(handle)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        column = getattr(exc, "colno", None)
        where = f", line {line} column {column}" if line else ""
        raise TableError(f"{path}{where}: not a JSON table") from None
    if not isinstance(rows, list):
        raise TableError(f"{path}: a JSON table is a list of rows")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise TableError(f"{path}, row {number}: a row is an object of column: value")
        yield row


def _json_row(path: Path, line: str, number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as exc:
        column = getattr(exc, "colno", None)
        raise TableError(f"{path}, line {number}" + (f" column {column}" if column else "") + ": not JSON") from None
    if not isinstance(row, dict):
        raise TableError(f"{path}, line {number}: a row is an object of column: value")
    return row


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UsageError(f"Parquet needs pyarrow: {PARQUET_EXTRA}") from None
    return pyarrow


class _ParquetSink:
    """Row groups of PARQUET_BATCH rows, so memory stays flat however long the listing."""

    def __init__(self, columns: Sequence[Column], stream: IO[Any]) -> None:
        pa = _pyarrow()
        types = {
            "str": pa.string(),
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
            "list": pa.list_(pa.string()),
        }
        self._pa = pa
        self._schema = pa.schema([(c.name, types[c.kind]) for c in columns])
        self._writer = pa.parquet.ParquetWriter(stream, self._schema)
        self._batch: list[list[Any]] = []

    def add(self, values: list[Any]) -> None:
        self._batch.append(values)
        if len(self._batch) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            arrays = [list(column) for column in zip(*self._batch, strict=True)]
            self._writer.write_table(self._pa.Table.from_arrays(arrays, schema=self._schema))
            self._batch = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


def _read_parquet(path: Path) -> Iterator[dict[str, Any]]:
    pa = _pyarrow()
    try:
        parquet = pa.parquet.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise TableError(f"{path}: not a readable Parquet file ({exc})") from None
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
        yield from batch.to_pylist()


def open_output(path: Path | None, fmt: str) -> IO[Any]:
    """The stream a table goes to: ``path`` (binary for Parquet), or None for the caller's stdout."""
    if path is None:
        raise ValueError("open_output needs a path; write to stdout directly")
    try:
        return path.open("wb") if fmt == "parquet" else path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def to_text(fmt: str, columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> str:
    """A whole table as text (TSV/CSV/JSON lines/JSON): for small tables and tests."""
    buffer = io.StringIO()
    writer = TableWriter(fmt, columns, buffer)
    writer.write_all(rows)
    writer.close()
    return buffer.getvalue()
