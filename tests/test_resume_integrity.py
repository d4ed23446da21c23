"""Resuming a ``.part``: only the exact rest of the file is appended, and sniffed formats still pass.

The hostile server here stands in front of the LORIS emulator (whose listing gives no sizes, so nothing
but the answer to a Range request tells the client what it is getting) and serves one file its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.allen.app import AllenEmulator
from neurofetch.emulators.common import Faults
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from tests.helpers import run_cli
from tests.resilience_support import data_files, part_files, serve_loris

# -- point 1: a resumed body is checked by the file's start ---------------------------------------------


def test_a_gzip_image_cut_mid_file_resumes_with_range_and_completes(tmp_path: Path) -> None:
    emulator = NeuroVaultEmulator(faults=Faults(range_support=True, truncate_rate=1.0), collections=1)
    cid = emulator.collections[0]["id"]
    images = emulator.images(cid)
    with emulator.serve() as server:
        env = {
            "NEUROFETCH_SERVICE": "neurovault",
            "NEUROFETCH_URL": emulator.base_url(server),
            "NEUROFETCH_RETRIES": "1",
        }
        cut = run_cli("mirror", tmp_path, "--collection", str(cid), env=env)
        assert cut.code != 0 and part_files(tmp_path), cut.stderr
        emulator.faults.truncate_rate = 0
        emulator.log.clear()
        again = run_cli("mirror", tmp_path, "--collection", str(cid), env=env)
        resumed = [e for e in emulator.log.entries() if e.status == 206]
    assert again.code == 0, again.stderr
    assert resumed and all(e.headers["range"] != "bytes=0-" for e in resumed)
    expected = {f"collection-{cid}/{Path(i['file']).name}": emulator.file_bytes(i) for i in images}
    assert {k: v for k, v in data_files(tmp_path).items() if k.endswith(".gz")} == expected
    assert part_files(tmp_path) == []


def test_a_jpeg_cut_mid_file_resumes_with_range_and_completes(tmp_path: Path) -> None:
    emulator = AllenEmulator(faults=Faults(range_support=True, reset_rate=1.0))
    with emulator.serve() as server:
        plate = emulator.atlas_images(1)[20]
        env = {"NEUROFETCH_URL": server.origin, "NEUROFETCH_SERVICE": "allen", "NEUROFETCH_RETRIES": "1"}
        command = ("atlas-image", str(plate["id"]), "--downsample", "2", "--out", tmp_path)
        cut = run_cli(*command, env=env)
        [part] = part_files(tmp_path)
        assert cut.code != 0 and part.stat().st_size > 0, cut.stderr
        emulator.faults.reset_rate = 0
        again = run_cli(*command, env=env)
        [resumed] = [e for e in emulator.log.entries() if e.path.startswith("/cgi-bin/imageservice")][-1:]
        fresh = run_cli("atlas-image", str(plate["id"]), "--downsample", "2", "--out", tmp_path / "fresh", env=env)
    assert again.code == 0, again.stderr
    assert fresh.code == 0 and resumed.status == 206
    [jpeg] = [p for p in tmp_path.rglob("*.jpg") if "fresh" not in p.parts]
    [whole] = (tmp_path / "fresh").rglob("*.jpg")
    assert jpeg.read_bytes() == whole.read_bytes()
    assert part_files(tmp_path) == []


# -- point 3: a 206 must be the rest of the file that was asked for -----------------------------------------


class OneFile:
    """ASGI app in front of the emulator: answers GETs of one file with ``content``, and Range
    requests as ``on_range`` says; ``cut`` closes every body halfway."""

    def __init__(self, app: Any, name: str, content: bytes) -> None:
        self.app, self.name, self.content = app, name, content
        self.cut = False
        self.on_range: Callable[[int, bytes], tuple[int, dict[str, str], bytes]] | None = None
        self.ranges: list[str | None] = []
        self.sized = True  # False: partial answers come without Content-Length (chunked)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/images/" + self.name):
            await self.app(scope, receive, send)
            return
        asked = dict(scope["headers"]).get(b"range")
        self.ranges.append(asked.decode() if asked else None)
        status, headers, body = 200, {}, self.content
        if asked and self.on_range:
            status, headers, body = self.on_range(int(asked.decode().removeprefix("bytes=").rstrip("-")), self.content)
        headers = {"content-type": "application/octet-stream", **headers}
        if status == 200 or self.sized:
            headers["content-length"] = str(len(body))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        if self.cut:
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise ConnectionAbortedError("cut")
        await send({"type": "http.response.body", "body": body})


def honest(offset: int, content: bytes) -> tuple[int, dict[str, str], bytes]:
    return 206, {"content-range": f"bytes {offset}-{len(content) - 1}/{len(content)}"}, content[offset:]


def earlier_start(offset: int, content: bytes) -> tuple[int, dict[str, str], bytes]:
    start = offset - 1000  # a 206 that overlaps what the .part holds: appended, it would repeat 1000 bytes
    return 206, {"content-range": f"bytes {start}-{len(content) - 1}/{len(content)}"}, content[start:]


def later_start(offset: int, content: bytes) -> tuple[int, dict[str, str], bytes]:
    start = offset + 1000
    return 206, {"content-range": f"bytes {start}-{len(content) - 1}/{len(content)}"}, content[start:]


def whole_file(offset: int, content: bytes) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, content


def short_range(offset: int, content: bytes) -> tuple[int, dict[str, str], bytes]:
    end = len(content) - 1000  # claims the right total but stops early
    return 206, {"content-range": f"bytes {offset}-{end - 1}/{len(content)}"}, content[offset:end]


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("answer", [earlier_start, later_start, whole_file, short_range, honest])
def test_a_resume_keeps_only_an_answer_that_continues_the_part_exactly(
    tmp_path: Path, answer: Callable, sized: bool
) -> None:
    dest = tmp_path / "d"
    hostile: list[OneFile] = []
    with serve_loris(
        size_scale=0.005, recorder=lambda app: hostile.append(OneFile(app, "", b"")) or hostile[0]
    ) as loris:
        record = max(loris.dataset.files, key=lambda f: f.size)
        server = hostile[0]
        server.name, server.content = record.filename, bytes(range(256)) * 400
        env = loris.env(NEUROFETCH_RETRIES="1")
        server.cut = True
        first = run_cli("mirror", dest, "--include", record.filename, "--no-qc", env=env)
        part = dest / (record.path + ".part")
        assert first.code != 0 and part.stat().st_size == len(server.content) // 2, first.stderr
        server.cut, server.on_range, server.sized = False, answer, sized
        server.ranges.clear()
        again = run_cli("mirror", dest, "--include", record.filename, "--no-qc", env=env)
    assert again.code == 0, again.stderr
    assert (dest / record.path).read_bytes() == server.content
    assert server.ranges[0] == f"bytes={len(server.content) // 2}-"
    if answer is honest:
        assert server.ranges == [server.ranges[0]]
    elif answer is not whole_file:
        assert server.ranges == [server.ranges[0], None]  # the wrong 206 is dropped, the file fetched whole


def test_a_206_of_a_file_of_another_size_than_when_the_part_began_starts_over(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    hostile: list[OneFile] = []
    with serve_loris(
        size_scale=0.005, recorder=lambda app: hostile.append(OneFile(app, "", b"")) or hostile[0]
    ) as loris:
        record = max(loris.dataset.files, key=lambda f: f.size)
        server = hostile[0]
        old, new = bytes(range(256)) * 400, bytes(reversed(range(256))) * 500
        server.name, server.content, server.cut = record.filename, old, True
        env = loris.env(NEUROFETCH_RETRIES="1")
        first = run_cli("mirror", dest, "--include", record.filename, "--no-qc", env=env)
        assert first.code != 0, first.stderr
        # The file changed on the server: an honest 206 of the new file is not the rest of the old one.
        server.content, server.cut, server.on_range = new, False, honest
        server.ranges.clear()
        again = run_cli("mirror", dest, "--include", record.filename, "--no-qc", env=env)
    assert again.code == 0, again.stderr
    assert (dest / record.path).read_bytes() == new
    assert server.ranges == [f"bytes={len(old) // 2}-", None]
