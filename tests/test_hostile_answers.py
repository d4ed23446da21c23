"""Answers a hostile server sends: a body that lies about its Content-Encoding, URLs with credentials in them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from neurofetch.emulators.common import RunningServer
from neurofetch.emulators.datamint.app import DatamintEmulator
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from tests.datamint_support import KEY, png_bytes
from tests.helpers import run_cli, tree_files
from tests.resilience_support import Recorder, data_files, serve_loris, the_error_line

ASGIApp = Callable[..., Any]


def claims_gzip(path_end: str) -> Callable[[ASGIApp], ASGIApp]:
    """A front that labels the answers for paths ending in ``path_end`` ``Content-Encoding: gzip``, body
    unchanged (not gzip)."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def front(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http" or not scope["path"].endswith(path_end):
                await app(scope, receive, send)
                return

            async def labelled(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-encoding"]
                    message = {**message, "headers": [*kept, (b"content-encoding", b"gzip")]}
                await send(message)

            await app(scope, receive, labelled)

        return front

    return wrap


def test_a_listing_that_is_not_the_gzip_it_claims_is_one_line_naming_the_url(tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005, recorder=claims_gzip("/candidates/")) as loris:  # type: ignore[arg-type]
        result = run_cli("mirror", tmp_path / "d", env=loris.env())
    assert result.code == 5, result.stderr
    line = the_error_line(result.stderr)
    assert f"{loris.url}/candidates/ does not decode as its Content-Encoding says" in line


def test_files_labelled_gzip_are_stored_as_sent(tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005, recorder=claims_gzip(".mnc")) as loris:  # type: ignore[arg-type]
        result = run_cli("mirror", tmp_path / "d", env=loris.env())
        expected = loris.dataset.expected_tree()
    assert result.code == 0, result.stderr
    assert data_files(tmp_path / "d") == expected


def test_a_datamint_listing_that_is_not_the_gzip_it_claims_is_one_line_naming_the_url(tmp_path: Path) -> None:
    emulator = DatamintEmulator()
    emulator.add_resource("a.png", png_bytes((4, 4)), mimetype="image/png")
    with RunningServer(claims_gzip("/resources")(emulator.app)) as server:
        url = emulator.base_url(server)
        result = run_cli(
            "mirror",
            tmp_path / "d",
            env={"NEUROFETCH_URL": url, "NEUROFETCH_SERVICE": "datamint", "NEUROFETCH_API_KEY": KEY},
        )
    assert result.code == 5, result.stderr
    assert f"{url}/resources does not decode as its Content-Encoding says" in the_error_line(result.stderr)


def test_a_file_url_with_credentials_in_it_fails_that_file_and_nothing_is_sent(tmp_path: Path) -> None:
    emulator = NeuroVaultEmulator(collections=1)
    cid = emulator.collections[0]["id"]
    planted: dict[str, str] = {}

    def plant_credentials(raw: bytes) -> bytes:  # the emulator gzips its JSON, as NeuroVault does
        page = json.loads(gzip.decompress(raw))
        first = page["results"][0]
        parts = urlsplit(first["file"])
        first["file"] = f"{parts.scheme}://someone:s3cretpw@{parts.netloc}{parts.path}"
        planted["path"] = parts.path
        return gzip.compress(json.dumps(page).encode())

    front = Recorder(emulator.app, transform=lambda path: plant_credentials if path.endswith("/images/") else None)
    with RunningServer(front) as server:
        env = {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)}
        result = run_cli("--json", "mirror", tmp_path, "--collection", str(cid), env=env)
    images = emulator.images(cid)
    assert result.code == 1, result.stderr
    [failure] = result.json["failures"]
    assert "user name or password" in failure["error"] and planted["path"] in failure["error"]
    assert "s3cretpw" not in result.stdout + result.stderr and "someone" not in result.stdout + result.stderr
    assert not [s for s in front.stamps if s.path == planted["path"]]  # never asked for
    assert "authorization" not in {h for s in front.stamps for h in s.headers}
    folder = f"collection-{cid}"
    assert tree_files(tmp_path) == {
        f"{folder}/{Path(i['file']).name}": emulator.file_bytes(i)
        for i in images
        if urlsplit(i["file"]).path != planted["path"]
    }


def test_a_redirect_to_a_url_with_credentials_in_it_fails_that_file(tmp_path: Path) -> None:
    from neurofetch.emulators.loris.app import LorisDataset

    first = LorisDataset(candidates=1, size_scale=0.005).files[0]

    def redirect_with_credentials(app: ASGIApp) -> ASGIApp:
        async def front(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http" or not scope["path"].endswith("/" + first.filename):
                await app(scope, receive, send)
                return
            host = dict(scope["headers"])[b"host"]
            location = b"http://someone:s3cretpw@" + host + b"/elsewhere/" + first.filename.encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 302,
                    "headers": [(b"location", location), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})

        return front

    with serve_loris(size_scale=0.005, recorder=redirect_with_credentials, record=True) as loris:  # type: ignore[arg-type]
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env())
        asked = [e.path for e in loris.emulator.log.entries()]
        expected = {p: b for p, b in loris.dataset.expected_tree().items() if not p.endswith("/" + first.filename)}
    assert result.code == 1, result.stderr
    [failure] = result.json["failures"]
    assert "user name or password" in failure["error"] and f"/elsewhere/{first.filename}" in failure["error"]
    assert "s3cretpw" not in result.stdout + result.stderr
    assert not [path for path in asked if path.startswith("/elsewhere/")]
    assert data_files(tmp_path / "d") == expected
