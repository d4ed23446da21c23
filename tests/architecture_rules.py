"""The import rules of DESIGN.md §2, checked on source with ast (nothing is imported): layers, one owner per
third-party library, no import cycle between modules, no ``<service>_<thing>.py`` beside ``<service>.py``.

Every import counts: top-level ones, lazy ones inside functions, and those under ``if TYPE_CHECKING:`` (a
type-only import still ties two modules together, and is where cycles hide)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Longest matching prefix wins.
LAYER_OF = {
    "neurofetch": "base",
    "neurofetch.errors": "base",
    "neurofetch.urls": "base",
    "neurofetch.environment": "base",
    "neurofetch.__main__": "cli",
    "neurofetch.cli": "cli",
    "neurofetch.api": "api",
    "neurofetch.data": "data",
    "neurofetch.settings": "settings",
    "neurofetch.config_file": "settings",
    "neurofetch.credentials": "credentials",
    "neurofetch.services": "services",
    "neurofetch.transfer": "transfer",
    "neurofetch.anonymize": "anonymize",
    "neurofetch.net": "net",
    "neurofetch.ui": "ui",
    "neurofetch.emulators": "emulators",
    "neurofetch.operations": "operations",
}

# cli ─► api ─► settings, credentials ─► services ─► transfer ─► net; ui is reached from cli, api and credentials
# (which prompts on a terminal and registers secrets for masking; transfer reaches ui through Reporter events,
# never an import), and reads transfer's result types and the settings it edits (the config wizard); data/ is
# public beside api and fetches through it (DatamintDataset mirrors its project with api.mirror), so api never
# imports data; emulators stand alone; operations/ is gone: nothing may import it.
MAY_IMPORT = {
    "cli": {"cli", "api", "settings", "credentials", "ui", "emulators", "base"},
    "api": {"api", "settings", "credentials", "services", "transfer", "anonymize", "net", "ui", "base"},
    "data": {"data", "api", "transfer", "anonymize", "net", "base"},
    "settings": {"settings", "credentials", "services", "transfer", "net", "base"},
    "credentials": {"credentials", "settings", "services", "net", "ui", "base"},  # a profile's secrets; prompts
    "services": {"services", "transfer", "anonymize", "net", "base"},
    "transfer": {"transfer", "anonymize", "net", "base"},
    "anonymize": {"base"},
    "net": {"net", "base"},
    "base": {"base"},
    "ui": {"ui", "transfer", "settings", "base"},
    "emulators": {"emulators", "base"},
    "operations": {
        "operations",
        "api",
        "data",
        "settings",
        "credentials",
        "services",
        "transfer",
        "anonymize",
        "net",
        "ui",
        "base",
        "emulators",
    },
}

# Third-party library → the modules (or packages) that may import it.
OWNERS = {
    "httpx": ("neurofetch.net",),
    "aiohttp": ("neurofetch.net",),
    "yarl": ("neurofetch.net",),
    "tenacity": ("neurofetch.net",),
    "uvloop": ("neurofetch.net",),
    "rich": ("neurofetch.ui",),
    "keyring": ("neurofetch.credentials",),
    "yaml": ("neurofetch.settings",),
    "platformdirs": ("neurofetch.settings",),
    "ruamel": ("neurofetch.config_file",),
    "boto3": ("neurofetch.services.s3",),
    "botocore": ("neurofetch.services.s3",),
    "s3transfer": ("neurofetch.services.s3",),
    "obstore": ("neurofetch.services.s3",),
    "pydicom": ("neurofetch.anonymize", "neurofetch.emulators.formats", "neurofetch.data"),
    "dicognito": ("neurofetch.anonymize",),
    "typer": ("neurofetch.cli",),
    "click": ("neurofetch.cli",),
    "starlette": ("neurofetch.emulators",),
    "uvicorn": ("neurofetch.emulators",),
    # images: the emulators draw them, Datamint uploads PNG masks, the Datasets decode them
    "PIL": ("neurofetch.emulators", "neurofetch.services.datamint", "neurofetch.data"),
    "nibabel": ("neurofetch.emulators.formats", "neurofetch.data"),
    "h5py": ("neurofetch.emulators.formats",),
    "numpy": ("neurofetch.data", "neurofetch.emulators"),
    "torch": ("neurofetch.data",),
    "pyarrow": ("neurofetch.transfer.catalog",),
    "pandas": ("neurofetch.api",),
    "bagit": ("neurofetch.transfer.bag",),
}

# Names whose ``<name>_<thing>.py`` beside ``<name>.py`` (or a ``<name>/`` package) means a missing sub-package.
SERVICE_NAMES = ("loris", "neurovault", "allen", "datamint", "s3", "emulate")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it names: a neurofetch module, or a third-party top-level name
    path: Path
    line: int


@dataclass(frozen=True)
class Violation:
    rule: str
    key: tuple[str, str]  # (module, target) for PENDING
    message: str


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(root, p): p for p in sorted(root.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str:
    """``a.b.c`` as the deepest known module (``from a.b import c`` names module ``a.b.c`` or a name in ``a.b``)."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports(root: Path) -> Iterator[Import]:
    """Each (module, target, line) once."""
    known = modules(root)
    top = root.name
    seen: set[tuple[str, str, int]] = set()
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                names = [f"{base}.{alias.name}" if base.split(".")[0] == top else base for alias in node.names]
            else:
                continue
            for name in dict.fromkeys(names):
                first = name.split(".")[0]
                if first == "__future__" or first in sys.stdlib_module_names:
                    continue
                target = _resolve(name, known) if first == top else first
                if (module, target, node.lineno) not in seen:
                    seen.add((module, target, node.lineno))
                    yield Import(module, target, path, node.lineno)


def layer(module: str) -> str | None:
    """The layer of ``module``: the entry for it or its nearest package (the top package covers only itself)."""
    best = max(
        (prefix for prefix in LAYER_OF if module == prefix or ("." in prefix and module.startswith(prefix + "."))),
        key=len,
        default=None,
    )
    return LAYER_OF[best] if best is not None else None


def _owned_by(module: str, owners: Iterable[str]) -> bool:
    return any(module == owner or module.startswith(owner + ".") for owner in owners)


def _where(found: Import, root: Path) -> str:
    return f"{found.path.relative_to(root.parent)}:{found.line}"


def check(root: Path) -> list[Violation]:
    """Every violation of the rules in the package at ``root`` (a directory named like the package)."""
    found = list(imports(root))
    top = root.name
    problems: list[Violation] = []
    for module in modules(root):
        if layer(module) is None:
            problems.append(
                Violation("layer", (module, ""), f"{module}: in no layer of DESIGN.md §2 (add it to LAYER_OF)")
            )
    for edge in found:
        where = _where(edge, root)
        if edge.target.split(".")[0] == top:
            mine, theirs = layer(edge.module), layer(edge.target)
            if mine is not None and theirs is not None and theirs not in MAY_IMPORT[mine]:
                problems.append(
                    Violation(
                        "layer",
                        (edge.module, edge.target),
                        f"{where}: {edge.module} ({mine}) imports {edge.target} ({theirs}): "
                        f"against the layers of DESIGN.md §2",
                    )
                )
        elif edge.target not in OWNERS:
            problems.append(
                Violation(
                    "owner",
                    (edge.module, edge.target),
                    f"{where}: {edge.module} imports {edge.target}, a library with no owner module (add it to OWNERS)",
                )
            )
        elif not _owned_by(edge.module, OWNERS[edge.target]):
            problems.append(
                Violation(
                    "owner",
                    (edge.module, edge.target),
                    f"{where}: {edge.module} imports {edge.target}, which only "
                    f"{' and '.join(OWNERS[edge.target])} may import",
                )
            )
    problems += _cycles(found, root)
    problems += _flat_names(root)
    if (root / "operations").is_dir():
        problems.append(
            Violation(
                "layout",
                (f"{top}.operations", ""),
                f"{top}/operations/: the package is to go "
                "(its code belongs to api, credentials, "
                "settings and services)",
            )
        )
    return problems


def _cycles(found: list[Import], root: Path) -> list[Violation]:
    """One violation per strongly connected component of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    first_line: dict[tuple[str, str], Import] = {}
    for edge in found:
        if edge.target.split(".")[0] == root.name and edge.target != edge.module:
            graph.setdefault(edge.module, set()).add(edge.target)
            first_line.setdefault((edge.module, edge.target), edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    problems = []
    for component in components:
        inside = sorted(
            (e for e in first_line.values() if e.module in component and e.target in component),
            key=lambda e: (e.module, e.target),
        )
        edges = "; ".join(f"{_where(e, root)} {e.module} → {e.target}" for e in inside)
        problems.append(Violation("cycle", (component[0], " ↔ ".join(component)), f"import cycle: {edges}"))
    return problems


def _flat_names(root: Path) -> list[Violation]:
    problems = []
    for folder in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        for path in sorted(folder.glob("*_*.py")):
            service = path.stem.split("_")[0]
            if service in SERVICE_NAMES and ((folder / f"{service}.py").exists() or (folder / service).is_dir()):
                problems.append(
                    Violation(
                        "layout",
                        (module_name(root, path), ""),
                        f"{path.relative_to(root.parent)}: {service}_*.py beside {service}"
                        f"{'.py' if (folder / f'{service}.py').exists() else '/'}: make it a "
                        f"module of a {service}/ sub-package",
                    )
                )
    return problems
