"""JSON nested absurdly deep, from a hostile server or proxy: one line and the --json document, never a traceback."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from neurofetch.emulators.common import RunningServer
from neurofetch.emulators.loris.app import LorisDataset
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from tests.helpers import run_cli
from tests.resilience_support import Recorder, data_files, serve_loris, the_error_line

VERY_DEEP = b"[" * 100_000 + b"]" * 100_000  # past the decoder's recursion limit
DEEP = b'{"Files": ' + b"[" * 150 + b"]" * 150 + b"}"  # decodes, but far deeper than any real answer


def replacing(path_end: str, body: bytes, *, gzipped: bool = False) -> Callable[[object], Recorder]:
    """A proxy that answers ``body`` for paths ending in ``path_end`` (gzipped, as the NeuroVault emulator's
    nginx sends JSON)."""
    sent = gzip.compress(body) if gzipped else body
    return lambda app: Recorder(app, transform=lambda path: (lambda _raw: sent) if path.endswith(path_end) else None)


def test_a_root_listing_nested_100000_deep_is_exit_5_with_one_line_and_the_json_document(tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005, recorder=replacing("/candidates/", VERY_DEEP)) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env())
    assert result.code == 5
    line = the_error_line(result.stderr)
    assert "nested deeper than 100 levels" in line and f"{loris.url}/candidates/" in line
    assert result.json["status"] == "failed" and result.json["exit_code"] == 5


def test_a_visit_listing_nested_too_deep_fails_that_visit_and_the_rest_is_mirrored(tmp_path: Path) -> None:
    first = LorisDataset(candidates=1, size_scale=0.005).files[0]
    images = f"/candidates/{first.cand}/{first.visit}/images"
    with serve_loris(size_scale=0.005, recorder=replacing(images, DEEP)) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env())
        expected = {
            p: b for p, b in loris.dataset.expected_tree().items() if not p.startswith(f"{first.cand}/{first.visit}/")
        }
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    [failure] = result.json["failures"]
    assert failure["item"] == f"visit {first.cand}/{first.visit}"
    assert "nested deeper than 100 levels" in failure["error"] and images in failure["error"]
    assert data_files(tmp_path / "d") == expected


@contextmanager
def neurovault_behind(recorder: Callable[[object], Recorder]) -> Iterator[tuple[NeuroVaultEmulator, dict[str, str]]]:
    emulator = NeuroVaultEmulator()
    server = RunningServer(recorder(emulator.app)).start()
    try:
        yield emulator, {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)}
    finally:
        server.stop()


def test_neurovault_api_root_nested_too_deep_is_exit_5(tmp_path: Path) -> None:
    with neurovault_behind(replacing("/api/", VERY_DEEP, gzipped=True)) as (emulator, env):
        cid = emulator.collections[0]["id"]
        result = run_cli("--json", "mirror", tmp_path / "nv", "--collection", str(cid), env=env)
    assert result.code == 5
    assert "nested deeper than 100 levels" in the_error_line(result.stderr)
    assert result.json["exit_code"] == 5


def test_a_neurovault_image_page_nested_too_deep_is_one_failed_item(tmp_path: Path) -> None:
    with neurovault_behind(replacing("/images/", VERY_DEEP, gzipped=True)) as (emulator, env):
        cid = emulator.collections[0]["id"]
        result = run_cli("--json", "mirror", tmp_path / "nv", "--collection", str(cid), env=env)
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    [failure] = result.json["failures"]
    assert failure["item"] == f"images of collection {cid}"
    assert "nested deeper than 100 levels" in failure["error"]
    record = json.loads((tmp_path / "nv" / f"collection-{cid}" / "collection.json").read_text())
    assert record["id"] == cid
