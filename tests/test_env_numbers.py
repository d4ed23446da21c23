"""Numbers given through environment variables: a bad one is one line naming the variable, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from tests.helpers import run_cli
from tests.resilience_support import the_error_line


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-1", "1e999"])
def test_a_bad_progress_interval_is_a_usage_error_naming_the_variable(tmp_path: Path, value: str) -> None:
    emulator = NeuroVaultEmulator(collections=1)
    cid = emulator.collections[0]["id"]
    with emulator.serve() as server:
        env = {
            "NEUROFETCH_SERVICE": "neurovault",
            "NEUROFETCH_URL": emulator.base_url(server),
            "NEUROFETCH_PROGRESS_INTERVAL": value,
        }
        result = run_cli("mirror", tmp_path / "d", "--collection", str(cid), env=env)
        good = run_cli(
            "mirror", tmp_path / "ok", "--collection", str(cid), env={**env, "NEUROFETCH_PROGRESS_INTERVAL": "0.5"}
        )
    assert result.code == 2
    assert "NEUROFETCH_PROGRESS_INTERVAL must be a number of seconds" in the_error_line(result.stderr)
    assert not (tmp_path / "d").exists()
    assert good.code == 0, good.stderr
