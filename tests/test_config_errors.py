"""Config files that are odd but possible: each problem is one line and exit 2, never a traceback, and a
profile named like a YAML 1.1 boolean (off, yes, no, on) is just a name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.test_config_wizard import run_config


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("profiles:\n  caf\xe9: {service: allen}\n".encode("latin-1"))
    for result in (run_cli("--config", config, "mirror", tmp_path / "d"), run_config("--config", str(config), "list")):
        line = one_line(result.stderr)
        assert result.code == 2 and str(config) in line and "UTF-8" in line


@pytest.mark.parametrize(
    ("key", "value"),
    [("timeout", ".nan"), ("timeout", ".inf"), ("retry_wait_max", "-.inf"), ("jobs", ".inf"), ("retries", ".nan")],
)
def test_nan_and_infinities_are_refused(loris: Any, tmp_path: Path, key: str, value: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"profiles:\n  lab: {{service: loris, url: {loris.url}, {key}: {value}}}\n")
    result = run_cli("--config", config, "-p", "lab", "mirror", tmp_path / "d", env={"NEUROFETCH_PASSWORD": "demo"})
    line = one_line(result.stderr)
    assert result.code == 2 and key in line and "'lab'" in line
    assert loris.log.entries() == []


def test_neurofetch_config_refuses_nan(tmp_path: Path) -> None:
    result = run_config("--config", str(tmp_path / "c.yaml"), "set", "lab", "service=allen", "timeout=nan")
    assert result.code == 2 and "timeout" in one_line(result.stderr)
    assert not (tmp_path / "c.yaml").exists()


@pytest.mark.parametrize("name", ["off", "yes", "no", "on"])
def test_profiles_named_like_booleans(loris: Any, tmp_path: Path, name: str) -> None:
    import yaml

    config = tmp_path / "c.yaml"
    written = run_config("--config", str(config), "set", name, "service=loris", f"url={loris.url}", "username=off")
    assert written.code == 0, written.stderr
    plain = yaml.safe_load(config.read_text())  # what any YAML 1.1 reader makes of the file
    assert plain["default_profile"] == name and plain["profiles"][name]["username"] == "off"
    env = {"NEUROFETCH_PASSWORD": "demo", "NEUROFETCH_USERNAME": "demo"}
    for args in (["-p", name], []):
        result = run_cli("--config", config, *args, "mirror", tmp_path / "d", env=env)
        assert result.code == 0, result.stderr
    hand_written = tmp_path / "hand.yaml"
    hand_written.write_text(f"default_profile: {name}\nprofiles:\n  {name}: {{service: loris, url: {loris.url}}}\n")
    result = run_cli("--config", hand_written, "-p", name, "mirror", tmp_path / "d2", env=env)
    assert result.code == 0, result.stderr
