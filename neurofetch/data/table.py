"""Index rows kept compactly: each column holds its distinct values once and one small code per row, so a
column that repeats (a visit label, a site, a QC verdict) costs two bytes a row, not a dict entry."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from typing import Any

_ABSENT = 0  # code of a row without the column; value codes start at 1


class CompactRows:
    """Rows (dicts) in the order given; ``row(i)`` gives back an equal dict, keys in first-seen column order."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.columns: list[str] = []
        self.values: list[list[Any]] = []
        self.codes: list[array[int]] = []
        positions: dict[str, int] = {}
        lookups: list[dict[Any, int]] = []
        count = 0
        for row in rows:
            for name, value in row.items():
                column = positions.get(name)
                if column is None:
                    column = positions[name] = len(self.columns)
                    self.columns.append(name)
                    self.values.append([None])
                    self.codes.append(array("H", bytes(2 * count)))
                    lookups.append({})
                key = _hashable(value)
                code = lookups[column].get(key)
                if code is None:
                    code = lookups[column][key] = len(self.values[column])
                    self.values[column].append(value)
                    if code == 1 << 16 and self.codes[column].typecode == "H":
                        self.codes[column] = array("I", self.codes[column])
                self.codes[column].append(code)
            count += 1
            for codes in self.codes:
                if len(codes) < count:
                    codes.append(_ABSENT)
        self.length = count

    def __len__(self) -> int:
        return self.length

    def row(self, index: int) -> dict[str, Any]:
        out = {}
        for name, values, codes in zip(self.columns, self.values, self.codes, strict=True):
            code = codes[index]
            if code != _ABSENT:
                value = values[code]
                out[name] = list(value) if isinstance(value, list) else value
        return out


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", tuple(_hashable(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _hashable(v)) for k, v in value.items())))
    return (type(value).__name__, value)
