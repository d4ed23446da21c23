"""--segments: a large file in parallel byte ranges, byte-exact, resumed segment by segment, and never spliced
from a server that answers ranges wrongly (it is fetched in one stream instead, or fails cleanly)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.common import Faults, RunningServer
from neurofetch.emulators.loris.app import LorisEmulator
from neurofetch.emulators.loris.data import LorisDataset
from tests.helpers import run_cli
from tests.resilience_support import Loris, part_files

SIZE = 8 << 20  # four segments of 2 MiB


class RangeLiar:
    """In front of the emulator: spoils the answers to Range requests in one way (``mode``), for every
    segment or only for the one starting at ``only_from``."""

    def __init__(self, app: Any, mode: str, only_from: int | None = None) -> None:
        self.app, self.mode, self.only_from = app, mode, only_from
        self.ranges: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", []))
        wanted = headers.get(b"range", b"").decode()
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", wanted)
        if match is None:
            await self.app(scope, receive, send)
            return
        self.ranges.append(wanted)
        start, end = int(match.group(1)), int(match.group(2))
        if self.only_from is not None and start != self.only_from:
            await self.app(scope, receive, send)
            return
        if self.mode == "ignores":  # as NeuroVault and LORIS: the whole file, 200
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"range"]}
        elif self.mode == "shifted":  # other bytes than asked for, and says so
            scope = {
                **scope,
                "headers": [
                    (k, v) if k != b"range" else (k, f"bytes={start + 1}-{end}".encode()) for k, v in scope["headers"]
                ],
            }
        await self.app(scope, receive, self._spoiled(send, end - start + 1))

    def _spoiled(self, send: Any, length: int) -> Any:
        sent = 0

        async def spoiled(message: Any) -> None:
            nonlocal sent
            if message["type"] == "http.response.start" and self.mode == "other-total":
                message["headers"] = [
                    (
                        k,
                        re.sub(rb"/(\d+)$", lambda m: b"/%d" % (int(m.group(1)) + 1), v)
                        if k == b"content-range"
                        else v,
                    )
                    for k, v in message["headers"]
                ]
            if message["type"] == "http.response.body" and self.mode == "short":
                body = message.get("body", b"")[: max(0, length // 2 - sent)]
                sent += len(body)
                if sent >= length // 2:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    raise ConnectionAbortedError("half a range, then gone")
                message = {**message, "body": body}
            await send(message)

        return spoiled


@contextmanager
def big_loris(
    mode: str = "", only_from: int | None = None, faults: str = "range_support"
) -> Iterator[tuple[Loris, RangeLiar | None]]:
    emulator = LorisEmulator(LorisDataset(candidates=1, big_file_size=SIZE), faults=Faults.parse(faults))
    front = RangeLiar(emulator.app, mode, only_from) if mode else None
    server = RunningServer(front or emulator.app).start()
    try:
        yield Loris(emulator, emulator.base_url(server)), front
    finally:
        server.stop()


def fetch(loris: Loris, dest: Path, *flags: str, **env: str) -> Any:
    big = loris.dataset.big_file
    assert big is not None
    return run_cli("--json", "mirror", dest, "--include", big.filename, "--no-qc", *flags, env=loris.env(**env))


def big_file(loris: Loris, dest: Path) -> tuple[Path, bytes]:
    big = loris.dataset.big_file
    assert big is not None
    return dest / big.path, loris.dataset.content(*big.key)


def test_four_segments_arrive_byte_exact(tmp_path: Path) -> None:
    with big_loris() as (loris, _):
        result = fetch(loris, tmp_path / "d", "--segments", "4")
        gets = loris.file_gets(loris.dataset.big_file.filename)  # type: ignore[union-attr]
    assert result.code == 0, result.stderr
    path, content = big_file(loris, tmp_path / "d")
    assert path.read_bytes() == content
    assert sorted(g.headers.get("range") for g in gets if g.status == 206) == [
        f"bytes={n * (SIZE // 4)}-{(n + 1) * (SIZE // 4) - 1}" for n in range(4)
    ]
    assert part_files(tmp_path / "d") == []


def test_one_stream_where_the_server_does_not_announce_ranges(tmp_path: Path) -> None:
    with big_loris(faults="") as (loris, _):
        result = fetch(loris, tmp_path / "d", "--segments", "4")
        gets = loris.file_gets(loris.dataset.big_file.filename)  # type: ignore[union-attr]
    assert result.code == 0, result.stderr
    assert [g.headers.get("range") for g in gets] == [None]  # one request, no probing
    path, content = big_file(loris, tmp_path / "d")
    assert path.read_bytes() == content


def test_a_failed_segment_is_resumed_alone_by_the_next_run(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    third = 2 * (SIZE // 4)
    with big_loris("short", only_from=third) as (loris, _):
        first = fetch(loris, dest, "--segments", "4", NEUROFETCH_RETRIES="0")
    assert first.code == 1, first.stderr
    path, content = big_file(loris, dest)
    assert not path.exists() and part_files(dest)  # the three good segments and half the third are kept
    with big_loris("ignores", only_from=-1) as (loris, liar):  # a healthy server, its ranges recorded
        second = fetch(loris, dest, "--segments", "4")
    assert second.code == 0, second.stderr
    assert path.read_bytes() == content
    assert liar is not None and liar.ranges == [f"bytes={third + SIZE // 8}-{third + SIZE // 4 - 1}"]
    assert second.json["bytes"] == SIZE


@pytest.mark.parametrize("mode", ["ignores", "shifted", "other-total"])
def test_a_server_that_answers_ranges_wrongly_gets_one_stream_and_a_correct_file(tmp_path: Path, mode: str) -> None:
    with big_loris(mode) as (loris, _):
        result = fetch(loris, tmp_path / "d", "--segments", "4")
        gets = loris.file_gets(loris.dataset.big_file.filename)  # type: ignore[union-attr]
    assert result.code == 0, result.stderr
    path, content = big_file(loris, tmp_path / "d")
    assert path.read_bytes() == content
    # The file came whole in the end; segments still in flight may be logged after that request, so not gets[-1].
    assert any(g.headers.get("range") is None and g.status == 200 for g in gets)
    assert part_files(tmp_path / "d") == []


def test_a_server_that_keeps_cutting_ranges_short_fails_the_file_cleanly(tmp_path: Path) -> None:
    with big_loris("short") as (loris, _):
        result = fetch(loris, tmp_path / "d", "--segments", "4", NEUROFETCH_RETRIES="1")
    assert result.code == 1, result.stderr
    path, _ = big_file(loris, tmp_path / "d")
    assert not path.exists()


def test_the_conn_rate_knob_caps_each_connection(tmp_path: Path) -> None:
    """Bounded, not timed: a connection never delivers more than conn_rate × time (plus one piece)."""
    import time

    rate = 4_000_000
    with big_loris(faults=f"range_support,conn_rate={rate}") as (loris, _):
        started = time.monotonic()
        result = fetch(loris, tmp_path / "d", "--segments", "1")
        elapsed = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert rate * elapsed + 200_000 >= SIZE
