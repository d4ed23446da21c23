"""What an installed neurofetch says about itself: its version, its typing marker, its start-up cost."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from tests.helpers import run_subprocess

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_version_comes_from_the_package_metadata() -> None:
    declared = re.search(r'^version = "([^"]+)"', PYPROJECT.read_text(), re.MULTILINE)
    assert declared is not None
    result = run_subprocess("--version")
    assert result.code == 0
    assert result.stdout.strip() == f"neurofetch {version('neurofetch')}" == f"neurofetch {declared.group(1)}"


def test_help_does_not_read_the_package_metadata() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "neurofetch", "--help"], capture_output=True, text=True, check=True
    )
    loaded = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "importlib.metadata" not in loaded


def test_the_package_is_marked_typed() -> None:
    import neurofetch

    assert (Path(neurofetch.__file__).parent / "py.typed").is_file()
