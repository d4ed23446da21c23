"""Every command against every emulator with each fault knob: whatever happens, it ends in the documented
exit codes and never in a traceback. Knobs are read from ``Faults`` itself, so new knobs are covered too."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.common import Emulator, Faults
from tests.datamint_support import png_bytes
from tests.helpers import CliRun, run_cli

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 130}
VALUE_PER_TYPE: dict[str, Any] = {"float": 0.5, "int": 2, "bool": True}


def knob_settings() -> list[tuple[str, Any]]:
    knobs = []
    for knob in dataclasses.fields(Faults):
        kind = knob.type if isinstance(knob.type, str) else knob.type.__name__
        knobs.append((knob.name, VALUE_PER_TYPE[kind]))
    return knobs


def loris(faults: Faults) -> Emulator:
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    return LorisEmulator(LorisDataset(candidates=1), faults=faults)


def neurovault(faults: Faults) -> Emulator:
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    return NeuroVaultEmulator(faults=faults, collections=1)


def allen(faults: Faults) -> Emulator:
    from neurofetch.emulators.allen.app import AllenEmulator

    return AllenEmulator(faults=faults, page_size_cap=50)


def datamint(faults: Faults) -> Emulator:
    from neurofetch.emulators.datamint.app import DatamintEmulator

    return DatamintEmulator(faults=faults, preload=2)


def loris_commands(emulator: Any, tmp: Path) -> list[tuple[str, ...]]:
    return [("mirror", str(tmp / "loris"))]


def neurovault_commands(emulator: Any, tmp: Path) -> list[tuple[str, ...]]:
    return [("mirror", str(tmp / "nv"), "--collection", str(emulator.collections[0]["id"]))]


def allen_commands(emulator: Any, tmp: Path) -> list[tuple[str, ...]]:
    plate = emulator.atlas_images(1)[0]
    return [("atlas-image", str(plate["id"]), "--downsample", "6", "--out", str(tmp / "allen"))]


def datamint_commands(emulator: Any, tmp: Path) -> list[tuple[str, ...]]:
    image = tmp / "upload" / "image.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(png_bytes())
    return [
        ("upload", str(image), "--channel", "faults"),
        ("publish", "--channel", "faults"),
        ("mirror", str(tmp / "dm")),
    ]


SERVICES: dict[str, tuple[Callable[[Faults], Emulator], Callable[[Any, Path], list[tuple[str, ...]]]]] = {
    "loris": (loris, loris_commands),
    "neurovault": (neurovault, neurovault_commands),
    "allen": (allen, allen_commands),
    "datamint": (datamint, datamint_commands),
}
SECRETS = {"loris": {"NEUROFETCH_PASSWORD": "demo"}, "datamint": {"NEUROFETCH_API_KEY": "demo-key"}}


def profile_env(service: str, url: str, tmp: Path) -> dict[str, str]:
    """A profile with short timeouts and one retry, so stalled bodies (drip) end quickly."""
    config = tmp / "config.yaml"
    username = "    username: demo\n" if service == "loris" else ""
    config.write_text(
        f"default_profile: p\nprofiles:\n  p:\n    service: {service}\n    url: {url}\n{username}"
        "    timeout: 1\n    retries: 1\n    retry_wait_max: 0.1\n    jobs: 32\n"
    )
    return {"NEUROFETCH_CONFIG": str(config), **SECRETS.get(service, {})}


def run_without_traceback(*args: str, env: dict[str, str]) -> CliRun:
    try:
        run = run_cli("--json", *args, env=env)
    except BaseException as exc:  # what would reach the user as a traceback
        raise AssertionError(f"neurofetch {' '.join(args)} raised {type(exc).__name__}: {exc}") from exc
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code in DOCUMENTED_EXIT_CODES, (run.code, run.stderr)
    return run


@contextlib.contextmanager
def served(service: str, faults: Faults) -> Iterator[tuple[Any, str]]:
    emulator = SERVICES[service][0](faults)
    with emulator.serve() as server:
        yield emulator, emulator.base_url(server)


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize(("knob", "value"), knob_settings(), ids=[k for k, _ in knob_settings()])
def test_every_command_under_every_fault_ends_in_a_documented_exit_code(
    service: str, knob: str, value: Any, tmp_path: Path
) -> None:
    faults = Faults(**{knob: value})
    with served(service, faults) as (emulator, url):
        env = profile_env(service, url, tmp_path)
        for command in SERVICES[service][1](emulator, tmp_path):
            run_without_traceback(*command, env=env)


@pytest.mark.parametrize(("knob", "value"), knob_settings(), ids=[k for k, _ in knob_settings()])
def test_s3_sync_against_a_server_that_is_not_s3(knob: str, value: Any, tmp_path: Path) -> None:
    """S3 has no fault knobs of its own; an HTTP server that is not S3, with each knob, stands in."""
    with served("datamint", Faults(**{knob: value})) as (_, url):
        env = {
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }
        run = run_without_traceback(
            "s3-sync", "s3://bucket/prefix", str(tmp_path / "s3"), "--endpoint-url", url.split("/api")[0], env=env
        )
        assert run.code != 0


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_emulate_on_a_port_in_use_is_one_line_and_exit_2(service: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = run_without_traceback("emulate", service, "--port", str(port), env={})
    assert run.code == 2
    assert run.stderr == (
        f"neurofetch: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "choose another --port (0 picks a free one)\n"
    )
    assert run_without_traceback("emulate", service, "--port", "70000", env={}).code == 2
