"""Flags, profiles, exit codes and start-up cost of the CLI itself."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli, run_subprocess


def test_help_imports_nothing_heavy() -> None:
    for args in (["--help"], ["mirror", "--help"], ["login", "--help"]):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "neurofetch", *args], capture_output=True, text=True, check=True
        )
        loaded = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
        heavy = {"httpx", "keyring", "yaml", "rich.progress", "tenacity", "starlette", "uvicorn", "boto3"}
        assert not loaded & heavy, (args, loaded & heavy)


def test_version_and_module_entry_point() -> None:
    result = run_subprocess("--version")
    assert result.code == 0 and result.stdout.startswith("neurofetch ")


@pytest.mark.parametrize(
    "args", [["mirror"], ["mirror", "x", "--jobs", "0"], ["mirror", "x", "--bogus"], ["no-such-command"]]
)
def test_bad_flags_exit_2(args: list[str]) -> None:
    assert run_cli(*args).code == 2


def test_no_profile_is_a_clear_usage_error(tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "d")
    assert result.code == 2
    assert "no profile selected" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_service_in_profile(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("default_profile: x\nprofiles:\n  x: {service: ftp, url: http://h}\n")
    result = run_cli("--config", config, "mirror", tmp_path / "d")
    assert result.code == 2 and "unknown service 'ftp'" in result.stderr


def test_profile_without_url(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("profiles:\n  x: {service: loris}\n")
    result = run_cli("--config", config, "-p", "x", "mirror", tmp_path / "d")
    assert result.code == 2 and "has no url" in result.stderr


def test_broken_yaml(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("profiles: [unclosed\n")
    result = run_cli("--config", config, "-p", "x", "mirror", tmp_path / "d")
    assert result.code == 2 and "not valid YAML" in result.stderr


def test_config_profile_env_and_flag_precedence(loris, tmp_path: Path) -> None:
    from neurofetch.settings import GlobalOptions, select_profile

    config = tmp_path / "c.yaml"
    config.write_text(
        f"default_profile: lab\nprofiles:\n  lab: {{service: loris, url: {loris.url}, jobs: 3, "
        "username: alice}\n  other: {service: allen}\n"
    )
    env = {"NEUROFETCH_CONFIG": str(config)}
    assert select_profile(GlobalOptions(), env).jobs == 3
    assert select_profile(GlobalOptions(), {**env, "NEUROFETCH_USERNAME": "bob"}).username == "bob"
    assert select_profile(GlobalOptions(), {**env, "NEUROFETCH_PROFILE": "other"}).url == "https://api.brain-map.org"
    adhoc = select_profile(GlobalOptions(url="http://elsewhere/api", service="loris"), env)
    assert (adhoc.url, adhoc.username, adhoc.jobs) == ("http://elsewhere/api", None, 4)  # nothing of "lab"


def test_profile_from_config_file_mirrors(loris, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"default_profile: lab\nprofiles:\n  lab:\n    service: loris\n    url: {loris.url}\n"
        "    username: demo\n    jobs: 2\n"
    )
    result = run_cli("--config", config, "mirror", tmp_path / "d", env={"NEUROFETCH_PASSWORD": "demo"})
    assert result.code == 0, result.stderr


def test_unreachable_server_exits_5(tmp_path: Path) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {
        "NEUROFETCH_URL": f"http://127.0.0.1:{port}/api/v0.0.3-dev",
        "NEUROFETCH_SERVICE": "loris",
        "NEUROFETCH_USERNAME": "demo",
        "NEUROFETCH_PASSWORD": "demo",
        "NEUROFETCH_RETRIES": "1",
    }
    result = run_cli("mirror", tmp_path / "d", env=env)
    assert result.code == 5, result.stderr
    assert "cannot reach" in result.stderr or "cannot connect" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_with_json_a_run_that_an_error_ends_still_prints_its_document(tmp_path: Path, loris_env: dict) -> None:
    refused = run_cli("--json", "mirror", tmp_path / "d", env={**loris_env, "NEUROFETCH_PASSWORD": "wrong"})
    assert refused.code == 3
    document = refused.json
    assert document["status"] == "failed" and document["exit_code"] == 3 and document["command"] == "mirror"
    assert "wrong" not in refused.stdout and document["error"] in refused.stderr

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = run_cli(
        "--json",
        "--url",
        f"http://127.0.0.1:{port}",
        "--service",
        "loris",
        "mirror",
        tmp_path / "e",
        env={**loris_env, "NEUROFETCH_RETRIES": "0"},
    )
    assert gone.code == 5 and gone.json["exit_code"] == 5 and "connection refused" in gone.json["error"]

    plain = run_cli("mirror", tmp_path / "d", env={**loris_env, "NEUROFETCH_PASSWORD": "wrong"})
    assert plain.code == 3 and plain.stdout == ""  # without --json, stdout stays empty
