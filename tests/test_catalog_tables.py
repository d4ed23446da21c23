"""Tables in and out (transfer/catalog.py): every format round-trips, and a broken table names line and column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from neurofetch.errors import UsageError
from neurofetch.transfer.catalog import Column, TableError, TableWriter, read_table, table_format, to_text

COLUMNS = [Column("path"), Column("size", "int"), Column("tags", "list"), Column("qc")]
ROWS = [
    {"path": "300001/V1/a b.mnc", "size": 12, "tags": ["t1", "x"], "qc": "Pass"},
    {"path": "300001/V1/tab\there.mnc", "size": None, "tags": [], "qc": None},
    {"path": '300002/V1/é,"q".mnc', "size": 0, "tags": ["only"], "qc": "Fail"},
]


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl", "json", "parquet"])
def test_every_format_round_trips(fmt: str, tmp_path: Path) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / f"table.{fmt}"
    with path.open("wb" if fmt == "parquet" else "w", **({} if fmt == "parquet" else {"newline": ""})) as out:
        writer = TableWriter(fmt, COLUMNS, out)
        writer.write_all(ROWS)
        writer.close()
    back = list(read_table(path))
    assert [row["path"] for row in back] == [row["path"] for row in ROWS]
    if fmt in ("tsv", "csv"):
        assert [row["size"] for row in back] == ["12", "", "0"]
        assert back[0]["tags"] == "t1;x"
    else:
        assert [row["size"] for row in back] == [12, None, 0]
        assert back[0]["tags"] == ["t1", "x"]


def test_the_format_follows_the_flag_then_the_file_then_the_terminal() -> None:
    assert table_format("CSV", Path("x.tsv"), terminal=True) == "csv"
    assert table_format(None, Path("rows.parquet"), terminal=True) == "parquet"
    assert table_format(None, None, terminal=True) == "table"
    assert table_format(None, None, terminal=False) == "tsv"
    with pytest.raises(UsageError, match="unknown --format 'xml'"):
        table_format("xml", None, terminal=False)


def test_a_row_with_the_wrong_number_of_cells_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "m.tsv"
    path.write_text("path\tsize\na\t1\nb\t2\textra\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"m\.tsv, line 3: 3 columns where the header has 2"):
        list(read_table(path))


def test_broken_json_lines_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"path": "a"}\n{"path": \n', encoding="utf-8")
    with pytest.raises(TableError, match=r"m\.jsonl, line 2 column \d+: not JSON"):
        list(read_table(path))


def test_a_table_edited_by_a_spreadsheet_is_read(tmp_path: Path) -> None:
    """Excel saves CSV with a byte-order mark and CRLF line ends."""
    path = tmp_path / "m.csv"
    path.write_bytes("\ufeffpath,size\r\na,1\r\n\r\n".encode())
    assert list(read_table(path)) == [{"path": "a", "size": "1"}]


def test_json_is_one_array_even_when_empty() -> None:
    assert to_text("json", COLUMNS, []) == "[]\n"
    assert to_text("json", COLUMNS, ROWS[:1]).startswith("[\n  {")


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from neurofetch.transfer.catalog import TableWriter, Column\n"
        "try:\n    TableWriter('parquet', [Column('a')], open(sys.argv[1], 'wb'))\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.parquet")], capture_output=True, text=True)
    assert out.stdout.strip() == "UsageError Parquet needs pyarrow: pip install 'neurofetch[parquet]'"
