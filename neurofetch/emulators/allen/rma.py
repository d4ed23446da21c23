"""A subset of the Allen RMA query language over the emulator's dataset (reference/allen.md §2).

Supported: ``model::X`` stages with ``rma::criteria`` (attribute filters, association filters with
nesting, table-qualified attributes, ``$eq $ne $lt $gt $le $ge $in $li $il``, existence tests),
``rma::include`` (eager-loaded associations, with filters), ``rma::options`` (``num_rows``,
``start_row``, ``order``, ``count``, ``only``, ``except``; ``tabular`` and ``debug`` are ignored),
``pipe::list[var$is'field']`` feeding ``$var`` values to the next stage, and the URL-parameter forms.
Anything else (``service::``, unknown models, columns or associations) is an :class:`RmaError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neurofetch.emulators.allen.data import ASSOCIATIONS, HIDDEN_NULL_COLUMNS, TABLES, Dataset, Record

DEFAULT_NUM_ROWS = 50  # commonly cited default when num_rows is omitted [unconfirmed]
OPERATORS = frozenset({"eq", "ne", "lt", "gt", "le", "ge", "in", "li", "il"})
OPTION_NAMES = frozenset({"num_rows", "start_row", "order", "count", "only", "except", "tabular", "debug"})
_AXIS = re.compile(r"^(\w+)::(.*)$", re.DOTALL)
_FILTER = re.compile(r"^([A-Za-z_][\w.]*)(?:\$([a-z]{2})(.*))?$", re.DOTALL)


class RmaError(Exception):
    """A query the service would reject; the message goes into ``msg`` of the error envelope."""


@dataclass
class Filter:
    lhs: str
    op: str | None  # None: existence test (not null)
    rhs: str = ""


@dataclass
class PathNode:
    """``name[filters](children)``; a node without a name filters the model itself."""

    name: str | None
    filters: list[Filter] = field(default_factory=list)
    children: list[PathNode] = field(default_factory=list)


@dataclass
class Stage:
    model: str
    criteria: list[PathNode] = field(default_factory=list)
    include: list[PathNode] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Pipe:
    var: str
    source: str


# ---------------------------------------------------------------------------------------------- parsing


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets, parentheses and single quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth < 0:
                raise RmaError(f"unbalanced {char!r} in {text!r}")
        elif char == sep and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth or quoted:
        raise RmaError(f"unbalanced brackets or quotes in {text!r}")
    parts.append(text[start:])
    return [p for p in (part.strip() for part in parts) if p]


def _closing(text: str, start: int) -> int:
    """Index of the bracket closing the one at ``start``."""
    pairs = {"[": "]", "(": ")"}
    depth, quoted = 0, False
    for index in range(start, len(text)):
        char = text[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char in pairs:
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
            if depth == 0:
                if char != pairs[text[start]]:
                    break
                return index
    raise RmaError(f"unbalanced brackets in {text!r}")


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def parse_filter(body: str) -> Filter:
    match = _FILTER.match(body.strip())
    if not match:
        raise RmaError(f"invalid filter [{body}]")
    lhs, op, rhs = match.groups()
    if op is not None and op not in OPERATORS | {"is"}:
        raise RmaError(f"unknown operator ${op} in [{body}]")
    return Filter(lhs, op, rhs or "")


def parse_node(token: str) -> PathNode:
    head = re.match(r"[A-Za-z_]\w*", token)
    node = PathNode(head.group(0) if head else None)
    index = head.end() if head else 0
    while index < len(token):
        if token[index] not in "[(":
            raise RmaError(f"unexpected {token[index]!r} in {token!r}")
        end = _closing(token, index)
        inner = token[index + 1 : end]
        if token[index] == "[":
            node.filters.append(parse_filter(inner))
        else:
            node.children.extend(parse_node(part) for part in split_top(inner))
        index = end + 1
    if node.name is None and node.children:
        raise RmaError(f"association list without an association in {token!r}")
    return node


def parse_options(text: str) -> dict[str, str]:
    options = {}
    for flt in parse_node(text).filters:
        if flt.lhs not in OPTION_NAMES or flt.op != "eq":
            raise RmaError(f"unknown option [{flt.lhs}${flt.op}{flt.rhs}]")
        options[flt.lhs] = unquote(flt.rhs)
    return options


def parse_query(text: str) -> list[Stage | Pipe]:
    steps: list[Stage | Pipe] = []
    section: str | None = None
    for token in split_top(text):
        axis_match = _AXIS.match(token)
        axis, rest = axis_match.groups() if axis_match else ("", token)
        if not axis_match:
            if section not in ("criteria", "include"):
                raise RmaError(f"{token!r} is outside rma::criteria or rma::include")
            stage = steps[-1]
            assert isinstance(stage, Stage)
            getattr(stage, section).append(parse_node(token))
        elif axis == "model":
            node = parse_node(rest)
            if node.name is None or node.children:
                raise RmaError(f"invalid model stage {token!r}")
            steps.append(Stage(node.name, criteria=[PathNode(None, node.filters)] if node.filters else []))
            section = None
        elif axis == "pipe":
            steps.append(_parse_pipe(rest))
            section = None
        elif axis == "rma":
            section = _rma_axis(steps, rest)
        else:
            raise RmaError(f"unsupported axis {axis}:: in {token!r}")
    if not steps or not isinstance(steps[-1], Stage):
        raise RmaError("the query has no model:: stage")
    return steps


def _parse_pipe(rest: str) -> Pipe:
    node = parse_node(rest)
    if node.name != "list" or len(node.filters) != 1 or node.filters[0].op != "is":
        raise RmaError(f"unsupported pipe::{rest}")
    return Pipe(node.filters[0].lhs, unquote(node.filters[0].rhs))


def _rma_axis(steps: list[Stage | Pipe], rest: str) -> str | None:
    if not steps or not isinstance(steps[-1], Stage):
        raise RmaError(f"rma::{rest} before any model:: stage")
    stage = steps[-1]
    name = rest.split("[", 1)[0]
    if name == "options":
        stage.options.update(parse_options(rest[len(name) :]))
        return None
    if name not in ("criteria", "include"):
        raise RmaError(f"unknown rma::{name}")
    trailing = parse_node(rest[len(name) :]).filters if len(rest) > len(name) else []
    if trailing:
        getattr(stage, name).append(PathNode(None, trailing))
    return name


# -------------------------------------------------------------------------------------------- evaluation


@dataclass
class Page:
    start_row: int
    total_rows: int
    rows: list[Record]


class RmaEngine:
    """Runs parsed queries against a :class:`Dataset`; ``page_size_cap`` bounds ``num_rows``."""

    def __init__(self, data: Dataset, *, page_size_cap: int = 2000, ignore_start_row: bool = False) -> None:
        self.ignore_start_row = ignore_start_row  # a fault: every page starts at the first row
        self.data = data
        self.page_size_cap = page_size_cap
        self._reverse: dict[tuple[str, str], dict[Any, list[Record]]] = {}

    def run(self, steps: list[Stage | Pipe], url_options: Mapping[str, str] | None = None) -> Page:
        variables: dict[str, list[Any]] = {}
        page = Page(0, 0, [])
        for step in steps:
            if isinstance(step, Pipe):
                variables[step.var] = [row.get(step.source) for row in page.rows]
            else:
                options = {**(url_options or {}), **step.options}
                page = self.run_stage(step, options, variables)
        return page

    def run_stage(self, stage: Stage, options: Mapping[str, str], variables: dict[str, list[Any]]) -> Page:
        model = self._check_model(stage.model)
        rows = [
            r
            for r in sorted(self.data.models[model].values(), key=lambda r: r["id"])
            if all(self._node_matches(model, r, node, variables) for node in stage.criteria)
        ]
        rows = self._ordered(model, rows, options.get("order", ""))
        start, count = self._paging(options, len(rows))
        selected = rows[start : start + count]
        total = len(rows) if options.get("count", "true").lower() != "false" else len(selected)
        only = _field_set(options.get("only"))
        except_ = _field_set(options.get("except")) or set()
        out = [self._serialize(model, r, stage.include, only, except_, variables) for r in selected]
        return Page(start, total, out)

    def _check_model(self, model: str) -> str:
        if model not in self.data.models or model not in TABLES:
            raise RmaError(f"uninitialized constant {model}")
        return model

    def _paging(self, options: Mapping[str, str], total: int) -> tuple[int, int]:
        start = 0 if self.ignore_start_row else _int_option(options, "start_row", 0)
        raw = options.get("num_rows", str(DEFAULT_NUM_ROWS))
        count = total if raw.lower() == "all" else _int_option(options, "num_rows", DEFAULT_NUM_ROWS)
        if start < 0 or count < 0:
            raise RmaError("start_row and num_rows must not be negative")
        return start, min(count, self.page_size_cap)

    def _ordered(self, model: str, rows: list[Record], order: str) -> list[Record]:
        for key in reversed(split_top(order.replace("+", " "))):
            column, _, direction = key.strip().partition(" ")
            column = self._own_column(model, column)
            if direction.strip().lower() not in ("", "asc", "desc"):
                raise RmaError(f"invalid order direction in {key!r}")
            descending = direction.strip().lower() == "desc"
            present = sorted(
                (r for r in rows if r.get(column) is not None), key=lambda r: r[column], reverse=descending
            )
            rows = present + [r for r in rows if r.get(column) is None]  # NULLs last, as in PostgreSQL
        return rows

    def _own_column(self, model: str, name: str) -> str:
        prefix, dot, column = name.rpartition(".")
        if dot and prefix != TABLES[model]:
            raise RmaError(f'missing FROM-clause entry for table "{prefix}"')
        self._column_type(model, column)
        return column

    def _column_type(self, model: str, column: str) -> None:
        records = self.data.models[model]
        if column in HIDDEN_NULL_COLUMNS.get(model, ()):
            return
        if not records or column not in next(iter(records.values())):
            raise RmaError(f"column {TABLES[model]}.{column} does not exist")

    # ---- filters

    def _node_matches(self, model: str, record: Record, node: PathNode, variables: dict[str, list[Any]]) -> bool:
        if node.name is None:
            return all(self._filter_matches(model, record, f, variables) for f in node.filters)
        target, related = self.related(model, record, node.name)
        return any(
            all(self._filter_matches(target, r, f, variables) for f in node.filters)
            and all(self._node_matches(target, r, child, variables) for child in node.children)
            for r in related
        )

    def _filter_matches(self, model: str, record: Record, flt: Filter, variables: dict[str, list[Any]]) -> bool:
        prefix, dot, column = flt.lhs.rpartition(".")
        if dot and prefix != TABLES[model]:
            if prefix not in ASSOCIATIONS.get(model, {}):
                raise RmaError(f'missing FROM-clause entry for table "{prefix}"')
            target, related = self.related(model, record, prefix)
            inner = Filter(column, flt.op, flt.rhs)
            return any(self._filter_matches(target, r, inner, variables) for r in related)
        self._column_type(model, column)
        value = record.get(column)
        if flt.op is None:
            return value is not None
        if flt.op == "is":
            raise RmaError("$is is only valid in pipe::list")
        return compare(value, flt.op, flt.rhs, variables)

    def related(self, model: str, record: Record, name: str) -> tuple[str, list[Record]]:
        try:
            target, how = ASSOCIATIONS[model][name]
        except KeyError:
            raise RmaError(f"Association named '{name}' was not found on {model}; perhaps you misspelled it?") from None
        kind, _, key = how.partition(":")
        table = self.data.models.get(target, {})
        if kind == "fk":
            foreign = record.get(key)
            found = table.get(foreign) if isinstance(foreign, int) else None
            return target, [found] if found is not None else []
        if kind == "link":
            return target, [table[i] for i in self.data.links.get(key, {}).get(record["id"], []) if i in table]
        return target, self._reverse_index(target, key).get(record["id"], [])

    def _reverse_index(self, model: str, key: str) -> dict[Any, list[Record]]:
        index = self._reverse.get((model, key))
        if index is None:
            index = {}
            for record in sorted(self.data.models.get(model, {}).values(), key=lambda r: r["id"]):
                index.setdefault(record.get(key), []).append(record)
            self._reverse[(model, key)] = index
        return index

    # ---- output

    def _serialize(
        self,
        model: str,
        record: Record,
        include: list[PathNode],
        only: set[str] | None,
        except_: set[str],
        variables: dict[str, list[Any]],
    ) -> Record:
        table = TABLES[model]

        def wanted(column: str) -> bool:
            qualified = {column, f"{table}.{column}"}
            return (only is None or bool(qualified & only)) and not qualified & except_

        out = {k: v for k, v in record.items() if wanted(k)}
        for node in include:
            if node.name is None:
                raise RmaError("rma::include takes association names")
            target, related = self.related(model, record, node.name)
            kept = [r for r in related if all(self._filter_matches(target, r, f, variables) for f in node.filters)]
            items = [self._serialize(target, r, node.children, only, except_, variables) for r in kept]
            many = not ASSOCIATIONS[model][node.name][1].startswith("fk:")
            out[node.name] = items if many else (items[0] if items else None)
        return out


def compare(value: Any, op: str, rhs: str, variables: dict[str, list[Any]]) -> bool:
    if rhs.startswith("$") and op in ("eq", "ne", "in"):
        candidates = variables.get(rhs[1:])
        if candidates is None:
            raise RmaError(f"undefined pipe variable {rhs}")
        hit = any(_equal(value, _text(c)) for c in candidates)
        return hit if op != "ne" else not hit
    if value is None:
        return False  # SQL: a comparison with NULL is never true
    if op == "in":
        return any(_equal(value, unquote(v)) for v in split_top(rhs))
    rhs = unquote(rhs)
    if op in ("li", "il"):
        pattern = re.escape(rhs).replace(r"\*", ".*").replace("%", ".*")
        return re.fullmatch(pattern, _text(value), re.IGNORECASE if op == "il" else 0) is not None
    if op == "eq":
        return _equal(value, rhs)
    if op == "ne":
        return not _equal(value, rhs)
    left, right = _comparable(value, rhs)
    return {"lt": left < right, "gt": left > right, "le": left <= right, "ge": left >= right}[op]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _comparable(value: Any, rhs: str) -> tuple[Any, Any]:
    if isinstance(value, bool):
        lowered = rhs.lower()
        if lowered not in ("true", "false", "t", "f", "1", "0"):
            raise RmaError(f'invalid input syntax for type boolean: "{rhs}"')
        return value, lowered in ("true", "t", "1")
    if isinstance(value, (int, float)):
        try:
            number = float(rhs)
        except ValueError:
            raise RmaError(f'invalid input syntax for type numeric: "{rhs}"') from None
        if math.isnan(number):
            raise RmaError(f'invalid input syntax for type numeric: "{rhs}"')
        return value, number
    return str(value), rhs


def _equal(value: Any, rhs: str) -> bool:
    if value is None:
        return False
    left, right = _comparable(value, rhs)
    return bool(left == right)


def _int_option(options: Mapping[str, str], name: str, default: int) -> int:
    raw = options.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(unquote(raw))
    except ValueError:
        raise RmaError(f"invalid value for {name}: {raw!r}") from None


def _field_set(raw: str | None) -> set[str] | None:
    if raw is None:
        return None
    return {part.strip() for part in unquote(raw).split(",") if part.strip()}
