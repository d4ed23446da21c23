"""One exit code per kind of problem, the same for every command and service (README "Exit codes",
docs/reference.md): a test per row of the table, through the real CLI."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.common import Faults, RunningServer
from neurofetch.errors import ExitCode
from tests.datamint_support import png_bytes
from tests.helpers import CliRun, run_cli
from tests.resilience_support import part_files, serve_loris, start_background, the_error_line, wait_until
from tests.s3.conftest import moto_server  # noqa: F401  (fixture)
from tests.test_full_disk_journal import tiny_disk  # noqa: F401  (fixture)
from tests.test_hostile import read_only_dir  # noqa: F401  (fixture)
from tests.test_no_tracebacks import SERVICES, profile_env, served
from tests.test_upload_state import run_without_read_override

ALL = sorted(SERVICES)


def download_command(service: str, emulator: Any, dest: Path) -> list[str]:
    """The command that fetches from ``service`` into ``dest``."""
    if service == "allen":
        return ["atlas-image", str(emulator.atlas_images(1)[0]["id"]), "--downsample", "6", "--out", str(dest)]
    if service == "neurovault":
        return ["mirror", str(dest), "--collection", str(emulator.collections[0]["id"])]
    return ["mirror", str(dest)]


def every_command(service: str, emulator: Any, tmp: Path) -> list[tuple[str, ...]]:
    return SERVICES[service][1](emulator, tmp)


def run(*args: str, env: dict[str, str]) -> CliRun:
    result = run_cli("--json", *args, env=env)
    assert "Traceback" not in result.stderr
    if result.stdout:
        assert result.json["exit_code"] == result.code
    return result


def test_the_table_is_the_documented_one() -> None:
    assert {c.name: c.value for c in ExitCode} == {
        "OK": 0,
        "PARTIAL": 1,
        "USAGE": 2,
        "AUTH": 3,
        "LOCKED": 4,
        "UNREACHABLE": 5,
        "INTEGRITY": 6,
        "DESTINATION": 7,
        "INTERRUPTED": 130,
    }


# -- 0 OK, 1 PARTIAL --------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ALL)
def test_0_every_command_that_does_everything(service: str, tmp_path: Path) -> None:
    with served(service, Faults()) as (emulator, url):
        env = profile_env(service, url, tmp_path)
        for command in every_command(service, emulator, tmp_path):
            result = run(*command, env=env)
            assert result.code == 0, (command, result.stderr)


@pytest.mark.parametrize("service", ALL)
def test_1_some_files_failed_the_rest_are_done(service: str, tmp_path: Path) -> None:
    with served(service, Faults(missing_files=1)) as (emulator, url):
        env = profile_env(service, url, tmp_path)
        command = download_command(service, emulator, tmp_path / "d")
        if service == "allen":  # one image that answers 500 every time, one that works
            plates = [r["id"] for r in emulator.atlas_images(1)]
            broken = next(i for i in plates if i in emulator.missing_image_ids)
            fine = next(i for i in plates if i not in emulator.missing_image_ids)
            command[1:2] = [str(broken), str(fine)]
        result = run(*command, env=env)
    assert result.code == 1, result.stderr
    assert result.json["status"] == "partial" and len(result.json["failures"]) == 1


# -- 2 USAGE ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ALL)
def test_2_a_url_without_a_scheme(service: str, tmp_path: Path) -> None:
    with served(service, Faults()) as (emulator, url):
        bare = url.split("://", 1)[1]
        result = run(
            "--url",
            bare,
            "--service",
            service,
            *download_command(service, emulator, tmp_path / "d"),
            env={"NEUROFETCH_PASSWORD": "demo", "NEUROFETCH_USERNAME": "demo"},
        )
        assert not emulator.log.entries()
    assert result.code == 2
    assert f"the url {bare!r} has no scheme; write https://{bare}" in the_error_line(result.stderr)


def test_2_a_url_without_a_scheme_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("default_profile: nv\nprofiles:\n  nv:\n    service: neurovault\n    url: neurovault.org\n")
    result = run("--config", str(config), "mirror", str(tmp_path / "d"), "--collection", "1", env={})
    assert result.code == 2 and "'neurovault.org' has no scheme" in result.stderr


def test_2_bad_flags() -> None:
    assert run_cli("mirror", "--no-such-flag").code == 2


# -- 3 AUTH -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["loris", "datamint"])
def test_3_wrong_credentials_on_every_command(service: str, tmp_path: Path) -> None:
    with served(service, Faults()) as (emulator, url):
        env = {**profile_env(service, url, tmp_path), "NEUROFETCH_PASSWORD": "wrong", "NEUROFETCH_API_KEY": "wrong"}
        for command in every_command(service, emulator, tmp_path):
            result = run(*command, env=env)
            assert result.code == 3, (command, result.stderr)


# -- 4 LOCKED ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def held_lock(dest: Path) -> Iterator[None]:
    """Another run's lock on ``dest``, as that run holds it."""
    (dest / ".neurofetch").mkdir(parents=True)
    with open(dest / ".neurofetch" / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


@pytest.mark.parametrize("service", ALL)
def test_4_another_run_holds_the_destination(service: str, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with served(service, Faults()) as (emulator, url), held_lock(dest):
        result = run(*download_command(service, emulator, dest), env=profile_env(service, url, tmp_path))
    assert result.code == 4, result.stderr


# -- 5 UNREACHABLE ----------------------------------------------------------------------------------------


def answering(status: int, body: bytes, content_type: bytes) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


NOT_FOUND = answering(404, b"<html><body>Not Found</body></html>", b"text/html")
WEB_PAGE = answering(200, b"<!doctype html><html><body>Welcome</body></html>", b"text/html; charset=utf-8")


@pytest.mark.parametrize("service", ALL)
@pytest.mark.parametrize("server", [NOT_FOUND, WEB_PAGE], ids=["404-everywhere", "html-page"])
def test_5_a_url_that_is_not_the_service_api(service: str, server: Any, tmp_path: Path) -> None:
    with served(service, Faults()) as (emulator, _):
        commands = every_command(service, emulator, tmp_path)
    with RunningServer(server) as web:
        env = profile_env(service, web.origin + "/api", tmp_path)
        for command in commands:
            result = run(*command, env=env)
            assert result.code == 5, (command, result.stderr)
            the_error_line(result.stderr)


@pytest.mark.parametrize("service", ["neurovault", "allen"])
def test_5_neurofetch_config_test_of_a_url_that_is_not_the_api(service: str, tmp_path: Path) -> None:
    from tests.test_config_wizard import run_config

    config = tmp_path / "config.yaml"
    with RunningServer(NOT_FOUND) as web:
        config.write_text(
            f"default_profile: p\nprofiles:\n  p:\n    service: {service}\n    url: {web.origin}\n    retries: 0\n"
        )
        result = run_config("--config", str(config), "test")
    assert result.code == 5, result.stderr
    assert "HTTP 404" in result.stderr and "not an answer of the service's API" in result.stderr


def test_5_a_url_where_no_loris_api_answers_names_the_api_base(tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005) as loris:  # (the LORIS origin itself works: the version is asked for)
        elsewhere = loris.url.split("/api/")[0] + "/elsewhere"
        result = run("mirror", str(tmp_path / "d"), env=loris.env(NEUROFETCH_URL=elsewhere))
    assert result.code == 5
    line = the_error_line(result.stderr)
    assert f"no LORIS API answers under {elsewhere}/api (tried v0.0.4-dev, v0.0.3, v0.0.3-dev)" in line
    assert f"e.g. {elsewhere}/api/v0.0.3-dev, or set the profile's api_version" in line


# -- 6 INTEGRITY ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["loris", "neurovault"])
def test_6_a_local_file_that_no_longer_matches(service: str, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with served(service, Faults()) as (emulator, url):
        env = profile_env(service, url, tmp_path)
        command = download_command(service, emulator, dest)
        assert run(*command, env=env).code == 0
        victim = next(
            p for p in sorted(dest.rglob("*")) if p.is_file() and ".neurofetch" not in p.parts and p.suffix != ".json"
        )
        victim.write_bytes(b"changed")
        result = run(*command, "--verify-only", env=env)
    assert result.code == 6, result.stderr


# -- 7 DESTINATION ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ALL)
def test_7_a_read_only_destination(service: str, read_only_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    with served(service, Faults()) as (emulator, url):
        env = profile_env(service, url, tmp_path)
        for dest in (read_only_dir, read_only_dir / "new"):
            result = run(*download_command(service, emulator, dest), env=env)
            assert result.code == 7, result.stderr
            assert "Read-only file system" in the_error_line(result.stderr)


@pytest.mark.parametrize("service", ["loris", "neurovault"])
def test_7_a_destination_without_write_permission(service: str, tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    with served(service, Faults()) as (emulator, url):
        env = profile_env(service, url, tmp_path)
        parent.chmod(0o555)
        try:
            result = run_without_read_override("--json", *download_command(service, emulator, parent / "d"), env=env)
        finally:
            parent.chmod(0o755)
    assert result.returncode == 7, result.stderr
    assert "Permission denied" in the_error_line(result.stderr)
    assert json.loads(result.stdout)["exit_code"] == 7


def test_7_an_upload_journal_that_cannot_be_written(read_only_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    image = tmp_path / "image.png"
    image.write_bytes(png_bytes())
    with served("datamint", Faults()) as (_, url):
        env = {**profile_env("datamint", url, tmp_path), "XDG_STATE_HOME": str(read_only_dir)}
        result = run("upload", str(image), env=env)
    assert result.code == 7, result.stderr
    assert "Read-only file system" in the_error_line(result.stderr)


# -- 130 INTERRUPTED --------------------------------------------------------------------------------------


def test_130_sigterm_while_files_transfer(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with serve_loris("drip=20000") as loris:
        background = start_background("mirror", dest, env=loris.env(), logs=tmp_path / "logs")
        try:
            wait_until(lambda: bool(part_files(dest)), what="a file in flight", process=background)
            background.signal(signal.SIGTERM)
            assert background.wait() == 130
        finally:
            if background.proc.poll() is None:
                os.kill(background.proc.pid, signal.SIGKILL)


# -- s3-sync follows the same table -------------------------------------------------------------------------


@pytest.fixture
def bucket(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811
    from tests.s3.conftest import _env

    env = _env(moto_server, monkeypatch)
    env.put("data/a.bin", b"a" * 1000)
    env.put("data/sub/b.bin", b"b" * 2000)
    return env


S3_ENV = {"AWS_MAX_ATTEMPTS": "1"}


def test_s3_sync_0_and_4(bucket: Any, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    assert run("s3-sync", bucket.url(), str(dest), "--endpoint-url", bucket.endpoint, env=S3_ENV).code == 0
    with held_lock(tmp_path / "e"):
        result = run("s3-sync", bucket.url(), str(tmp_path / "e"), "--endpoint-url", bucket.endpoint, env=S3_ENV)
    assert result.code == 4, result.stderr


def test_s3_sync_7_a_read_only_destination(bucket: Any, read_only_dir: Path) -> None:  # noqa: F811
    result = run("s3-sync", bucket.url(), str(read_only_dir), "--endpoint-url", bucket.endpoint, env=S3_ENV)
    assert result.code == 7, result.stderr
    assert "Read-only file system" in the_error_line(result.stderr)


@pytest.mark.parametrize("server", [NOT_FOUND, WEB_PAGE], ids=["404-everywhere", "html-page"])
def test_s3_sync_5_an_endpoint_that_is_not_s3(server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with RunningServer(server) as web:
        result = run("s3-sync", "s3://bucket/data", str(tmp_path / "d"), "--endpoint-url", web.origin, env=S3_ENV)
    assert result.code == 5, result.stderr


def test_s3_sync_7_a_disk_that_fills_up(bucket: Any, tiny_disk: Path) -> None:  # noqa: F811
    for n in range(4):
        bucket.put(f"data/big-{n}.bin", bytes([n]) * 1_500_000)  # 6 MB for a 3 MiB disk
    result = run("s3-sync", bucket.url(), str(tiny_disk / "d"), "--endpoint-url", bucket.endpoint, env=S3_ENV)
    assert result.code == 7, result.stderr
    assert "no space left on the device" in the_error_line(result.stderr)
    assert result.json["status"] == "failed" and result.json["counts"]["downloaded"] < 6  # two small, four big
