"""DESIGN.md §2 as a test: the rules of tests/architecture_rules.py hold for neurofetch/, and the checker does
find each kind of violation in a small package built for it (so a green run means something)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.architecture_rules import Violation, check

ROOT = Path(__file__).resolve().parent.parent / "neurofetch"

# Edges known to be wrong, each to be taken out as it goes (an entry that no longer occurs fails the test too).
# Empty: every import follows DESIGN.md §2; keep it that way rather than adding to it.
PENDING: set[str] = set()


def pending_key(violation: Violation) -> str:
    module, target = violation.key
    return f"{module} -> {target}" if target else module


def test_neurofetch_keeps_the_layers_owners_and_acyclic_imports_of_the_design() -> None:
    found = check(ROOT)
    unexpected = [v.message for v in found if pending_key(v) not in PENDING]
    assert not unexpected, "\n".join(["imports against DESIGN.md §2:", *unexpected])
    gone = sorted(PENDING - {pending_key(v) for v in found})
    assert not gone, f"no longer found, remove from PENDING: {gone}"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_checker_finds_each_kind_of_violation(tmp_path: Path) -> None:
    package = tmp_path / "neurofetch"
    _write(
        package,
        {
            "__init__.py": "",
            "errors.py": "",
            "cli/__init__.py": "",
            "cli/app.py": "import typer\n",
            "net/__init__.py": "",
            "net/http.py": """\
            import httpx


            def login():
                from neurofetch.cli import app   # a lazy import counts
            """,
            "transfer/__init__.py": "",
            "transfer/engine.py": "from neurofetch.transfer.download import fetch\nimport httpx\n",
            "transfer/download.py": """\
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from neurofetch.transfer.engine import Context
            """,
            "transfer/events.py": "from ..ui import show\n",
            "ui/__init__.py": "",
            "ui/show.py": "import rich\n",
            "services/__init__.py": "",
            "services/loris.py": "import leftpad\n",
            "services/loris_versions.py": "",
            "operations/__init__.py": "",
            "extra.py": "",
        },
    )
    messages = sorted(v.message for v in check(package))
    expected = [
        "neurofetch/net/http.py:5: neurofetch.net.http (net) imports neurofetch.cli.app (cli): against the layers",
        "neurofetch/transfer/engine.py:2: neurofetch.transfer.engine imports httpx, which only neurofetch.net may",
        "neurofetch/transfer/events.py:1: neurofetch.transfer.events (transfer) imports neurofetch.ui.show (ui)",
        "neurofetch/services/loris.py:1: neurofetch.services.loris imports leftpad, a library with no owner",
        "import cycle: neurofetch/transfer/download.py:4 neurofetch.transfer.download → neurofetch.transfer.engine; "
        "neurofetch/transfer/engine.py:1 neurofetch.transfer.engine → neurofetch.transfer.download",
        "neurofetch/services/loris_versions.py: loris_*.py beside loris.py",
        "neurofetch/operations/: the package is to go",
        "neurofetch.extra: in no layer",
    ]
    for start in expected:
        assert any(m.startswith(start) for m in messages), f"{start!r} not in {messages}"
    assert len(messages) == len(expected), messages  # cli/app.py's typer, net's httpx, ui's rich are fine
