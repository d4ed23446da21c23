"""Listings that name an entry twice: fetched once, counted once, byte-exact; two sources for one path fail."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from neurofetch.emulators.common import Faults, RunningServer
from tests.datamint_support import datamint_server, env_for
from tests.helpers import run_cli, tree_files
from tests.resilience_support import Recorder, assert_nothing_partial_taken_for_complete, data_files, serve_loris


def journal(dest: Path) -> dict[str, tuple[int, str]]:
    rows = sqlite3.connect(dest / ".neurofetch" / "state.sqlite3").execute("SELECT path, size, sha256 FROM files")
    return {path: (size, digest) for path, size, digest in rows}


def test_loris_listing_every_candidate_visit_and_file_twice_mirrors_each_once_byte_exact(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with serve_loris("duplicate_entries=1", candidates=2, size_scale=0.05) as loris:
        result = run_cli("--json", "mirror", dest, env=loris.env(NEUROFETCH_JOBS="8"))
        expected = loris.dataset.expected_tree()
        gets = [e.path for e in loris.file_gets()]
        qc_gets = [e.path for e in loris.emulator.log.entries() if e.path.endswith("/qc")]
        visit_gets = [e.path for e in loris.emulator.log.entries() if e.path.endswith("/images")]
        again = run_cli("--json", "mirror", dest, env=loris.env())
    assert result.code == 0, result.stderr
    assert data_files(dest) == expected
    assert journal(dest) == {p: (len(b), hashlib.sha256(b).hexdigest()) for p, b in expected.items()}
    assert_nothing_partial_taken_for_complete(dest, expected)
    assert sorted(gets) == sorted(set(gets)) and len(gets) == len(expected)
    assert sorted(qc_gets) == sorted(set(qc_gets)) and sorted(visit_gets) == sorted(set(visit_gets))
    assert result.json["counts"]["downloaded"] == len(expected)
    assert result.json["bytes"] == sum(map(len, expected.values()))
    candidate = json.loads(next(dest.glob("*/candidate.json")).read_text())
    assert len(candidate["Visits"]) == 2 * len(set(candidate["Visits"]))  # the record is kept as served
    assert again.code == 0 and again.json["counts"] == {"skipped": len(expected)}


def test_a_datamint_resource_listed_twice_is_downloaded_once(tmp_path: Path) -> None:
    dest = tmp_path / "dm"
    with datamint_server(faults=Faults.parse("duplicate_entries=1")) as emulator:
        records = [emulator.add_resource(f"scan{i}.bin", bytes([i]) * (200_000 + i), channel="ct") for i in range(6)]
        result = run_cli("--json", "mirror", dest, env=env_for(emulator))
        gets = [e.path for e in emulator.log.entries() if e.path.endswith("/file")]
    assert result.code == 0, result.stderr
    expected = {f"ct/{r.id}_{r.filename}": r.data for r in records}
    assert tree_files(dest) == expected
    assert journal(dest) == {p: (len(b), hashlib.sha256(b).hexdigest()) for p, b in expected.items()}
    assert len(gets) == len(set(gets)) == len(records)
    assert result.json["counts"]["downloaded"] == len(records)


def colliding(listing: bytes) -> bytes:
    """Give two records one destination: ``<id>_part_<name>`` as id+filename of both, from different URLs."""
    body = json.loads(listing)
    first, second = body["data"][0]["resources"][:2]
    second["id"] = first["id"] + "_part"
    second["filename"] = first["filename"]
    first["filename"] = "part_" + first["filename"]
    return json.dumps(body).encode()


def test_two_datamint_resources_with_one_destination_fail_naming_both_urls_and_neither_is_written(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dm"
    with datamint_server() as emulator:
        records = [emulator.add_resource(f"scan{i}.bin", bytes([i]) * 1000, channel="ct") for i in range(3)]
        proxy = Recorder(emulator.app, transform=lambda path: colliding if path == "/resources" else None)
        server = RunningServer(proxy).start()
        try:
            url = emulator.base_url(server)
            result = run_cli("--json", "mirror", dest, env={**env_for(emulator), "NEUROFETCH_URL": url})
        finally:
            server.stop()
    assert result.code == 1, result.stderr
    path = f"ct/{records[0].id}_part_{records[0].filename}"
    failures = {f["item"]: f["error"] for f in result.json["failures"]}
    assert set(failures) == {path, path + ".json"}
    assert f"{url}/resources/{records[0].id}/file and {url}/resources/{records[0].id}_part/file" in failures[path]
    assert "neither is written" in failures[path]
    assert failures[path + ".json"].startswith("the server lists two different records for this one path")
    assert tree_files(dest) == {f"ct/{records[2].id}_{records[2].filename}": records[2].data}
    assert not (dest / (path + ".json")).exists()
