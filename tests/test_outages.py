"""Outages as real fronts show them, against every service's emulator: Apache/nginx 502/503/504 HTML pages
without Retry-After (API and file requests alike), and 429 with Retry-After as an HTTP-date."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.common import Emulator, Faults, RunningServer
from tests.helpers import run_cli, tree_files
from tests.resilience_support import Recorder, part_files, the_error_line

OUTAGE = "html_outage=0.4,seed=5"
MANY = {"NEUROFETCH_RETRY_WAIT_MAX": "0.05", "NEUROFETCH_RETRIES": "20"}


@dataclass
class Service:
    """How to run one service's emulator, what to ask it for, and what a complete answer is on disk."""

    make: Callable[[Faults], Emulator]
    env: Callable[[Emulator, str], dict[str, str]]
    args: Callable[[Emulator], list[str]]
    expected: Callable[[Emulator], dict[str, bytes] | int]  # the exact tree, or the number of files
    file_paths: str  # a request for a file's bytes has this in its path


def _loris(faults: Faults) -> Emulator:
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    return LorisEmulator(LorisDataset(candidates=1, size_scale=0.02), faults=faults, users={"demo": "demo"})


def _neurovault(faults: Faults) -> Emulator:
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    return NeuroVaultEmulator(faults=faults)


def _big_collection(emulator: Any) -> int:
    return int(max(emulator.collections, key=lambda c: len(emulator.images(c["id"])))["id"])


def _neurovault_expected(emulator: Any) -> dict[str, bytes]:
    from urllib.parse import unquote, urlsplit

    cid = _big_collection(emulator)
    return {
        f"collection-{cid}/{unquote(urlsplit(i['file']).path.rsplit('/', 1)[-1])}": emulator.file_bytes(i)
        for i in emulator.images(cid)
    }


def _allen(faults: Faults) -> Emulator:
    from neurofetch.emulators.allen.app import AllenEmulator

    return AllenEmulator(faults=faults, page_size_cap=50)


def _datamint(faults: Faults) -> Emulator:
    from neurofetch.emulators.datamint.app import DatamintEmulator

    emulator = DatamintEmulator(faults=faults)
    for index in range(20):
        emulator.add_resource(f"r{index}.bin", bytes([index]) * (1000 + index), mimetype="application/octet-stream")
    return emulator


SERVICES = {
    "loris": Service(
        _loris,
        lambda e, url: {
            "NEUROFETCH_SERVICE": "loris",
            "NEUROFETCH_URL": url,
            "NEUROFETCH_USERNAME": "demo",
            "NEUROFETCH_PASSWORD": "demo",
        },
        lambda e: [],
        lambda e: e.dataset.expected_tree(),
        "/images/",
    ),  # type: ignore[attr-defined]
    "neurovault": Service(
        _neurovault,
        lambda e, url: {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": url},
        lambda e: ["--collection", str(_big_collection(e))],
        _neurovault_expected,
        "/media/",
    ),
    "allen": Service(
        _allen,
        lambda e, url: {"NEUROFETCH_SERVICE": "allen", "NEUROFETCH_URL": url},
        lambda e: ["--atlas-images", "2", "--downsample", "6"],
        lambda e: len(e.atlas_images(2)),
        "/cgi-bin/imageservice",
    ),  # type: ignore[attr-defined]
    "datamint": Service(
        _datamint,
        lambda e, url: {"NEUROFETCH_SERVICE": "datamint", "NEUROFETCH_URL": url, "NEUROFETCH_API_KEY": "demo-key"},
        lambda e: [],
        lambda e: {
            f"Unknown/{r.id}_{r.filename}": r.data  # type: ignore[attr-defined]
            for r in e.store.resources.values()
        },  # type: ignore[attr-defined]
        "/file",
    ),
}


@contextmanager
def running(name: str, faults: str) -> Iterator[tuple[Emulator, Recorder, dict[str, str]]]:
    service = SERVICES[name]
    emulator = service.make(Faults.parse(faults))
    recorder = Recorder(emulator.app)
    server = RunningServer(recorder).start()
    try:
        yield emulator, recorder, service.env(emulator, emulator.base_url(server))
    finally:
        server.stop()


def command(name: str, emulator: Emulator, dest: Path) -> list[str]:
    args = SERVICES[name].args(emulator)
    if name == "allen":
        return ["atlas-image", *args, "--out", str(dest)]
    return ["mirror", str(dest), *args]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_html_outage_pages_are_retried_until_every_file_is_exact(name: str, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with running(name, OUTAGE) as (emulator, recorder, env):
        result = run_cli(*command(name, emulator, dest), env={**env, **MANY})
        expected = SERVICES[name].expected(emulator)
        outages = [s for s in recorder.stamps if s.status in (502, 503, 504)]
    assert result.code == 0, result.stderr
    assert "JSON" not in result.stderr
    assert {s.status for s in outages} == {502, 503, 504}
    assert any(SERVICES[name].file_paths in s.path for s in outages)  # file requests too (API: the next test)
    files = tree_files(dest)
    if isinstance(expected, int):
        assert len([p for p in files if p.endswith(".jpg")]) == expected
    else:
        assert {p: files[p] for p in files if p in expected} == expected
    assert part_files(dest) == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_lasting_outage_ends_in_one_line_naming_the_status(name: str, tmp_path: Path) -> None:
    with running(name, "html_outage=1") as (emulator, recorder, env):
        result = run_cli(*command(name, emulator, tmp_path / "d"), env={**env, "NEUROFETCH_RETRIES": "2"})
        attempts = len(recorder.stamps)
    assert result.code == 5, result.stderr
    line = the_error_line(result.stderr)
    assert re.search(r"HTTP 50[234]\b", line) and "JSON" not in line, line
    assert attempts == 3  # the service's first API request, tried three times


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_429_with_an_http_date_retry_after_is_waited_for(name: str, tmp_path: Path) -> None:
    with running(name, "rate_limit_rate=1,retry_after=2,retry_after_date") as (emulator, recorder, env):
        result = run_cli(
            *command(name, emulator, tmp_path / "d"),
            env={**env, "NEUROFETCH_RETRIES": "1", "NEUROFETCH_RETRY_WAIT_MAX": "5"},
        )
        stamps = list(recorder.stamps)
    assert result.code == 5, result.stderr
    assert "HTTP 429" in the_error_line(result.stderr)
    assert [s.status for s in stamps] == [429, 429]
    # The date has whole seconds, so "2 s from now" is more than 1 s; the backoff alone is at most 0.75 s.
    assert stamps[1].at - stamps[0].at >= 0.95
