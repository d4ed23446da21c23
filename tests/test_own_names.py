"""Server names equal to a mirror's own (state folder, records, .part): refused by name, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

from neurofetch.emulators.common import RunningServer
from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator
from neurofetch.emulators.loris.data import COLLIDING_CANDIDATE, COLLIDING_VISIT, qc_json
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from tests.helpers import run_cli
from tests.resilience_support import data_files, part_files


def test_loris_names_of_records_and_of_the_state_folder_are_refused_by_name(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    dataset = LorisDataset(candidates=1, size_scale=0.005, colliding_names=True)
    emulator = LorisEmulator(dataset, users={"demo": "demo"})
    server = RunningServer(emulator.app).start()
    env = {
        "NEUROFETCH_URL": emulator.base_url(server),
        "NEUROFETCH_SERVICE": "loris",
        "NEUROFETCH_USERNAME": "demo",
        "NEUROFETCH_PASSWORD": "demo",
    }
    try:
        runs = [run_cli("--json", "mirror", dest, env=env) for _ in range(2)]
        shards = [run_cli("--json", "mirror", tmp_path / "s", "--shard", f"{k}/2", env=env) for k in (1, 2)]
    finally:
        server.stop()
    cand = next(c.cand_id for c in dataset.candidates if any(v.label == COLLIDING_VISIT for v in c.visits))
    visit = f"{cand}/PREBL00"
    for result in runs:
        assert result.code == 1, result.stderr
        failures = {f["item"]: f["error"] for f in result.json["failures"]}
        assert set(failures) == {
            f"candidate {COLLIDING_CANDIDATE}",
            f"{visit}/a.mnc.qc.json",
            f"{visit}/session.json",
            f"{visit}/b.mnc.part",
            f"{cand}/{COLLIDING_VISIT}/session.json",
            f"{cand}/{COLLIDING_VISIT}/c.mnc",
            f"{cand}/{COLLIDING_VISIT}/c.mnc.qc.json",
        }
        assert "state folder" in failures[f"candidate {COLLIDING_CANDIDATE}"]
        assert "neurofetch writes its own record there" in failures[f"{visit}/a.mnc.qc.json"]
        assert ".part" in failures[f"{visit}/b.mnc.part"]
    assert runs[1].json["counts"].get("downloaded", 0) == 0
    assert data_files(dest) == dataset.expected_tree()
    assert part_files(dest) == []
    # The records are neurofetch's, not the server's files that carry their names.
    a_mnc = dataset.file(cand, "PREBL00", "a.mnc")
    assert json.loads((dest / visit / "a.mnc.qc.json").read_text()) == qc_json(a_mnc)
    assert json.loads((dest / visit / "session.json").read_text())["Meta"]["Visit"] == "PREBL00"
    assert json.loads((dest / cand / COLLIDING_VISIT).read_text())["Meta"]["CandID"] == cand
    assert sorted(p.name for p in (dest / ".neurofetch").iterdir()) == ["lock", "state.sqlite3"]
    # A refused file's own records are not written either.
    assert not (dest / visit / "b.mnc.part.qc.json").exists()
    for result in shards:
        assert result.code in (0, 1), result.stderr
    assert all(p.name.startswith(("lock", "state")) for p in (tmp_path / "s" / ".neurofetch").iterdir())


def test_neurovault_files_named_like_a_part_or_a_record_are_refused_by_name(tmp_path: Path) -> None:
    emulator = NeuroVaultEmulator(collections=1, colliding_names=True)
    cid = emulator.collections[0]["id"]
    with emulator.serve() as server:
        env = {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)}
        runs = [run_cli("--json", "mirror", tmp_path, "--collection", str(cid), env=env) for _ in range(2)]
    folder = f"collection-{cid}"
    images = {Path(i["file"]).name: i for i in emulator.images(cid)}
    for result in runs:
        assert result.code == 1, result.stderr
        failures = {f["item"]: f["error"] for f in result.json["failures"]}
        assert set(failures) == {f"{folder}/collide.nii.gz.part", f"{folder}/collide.nii.gz.json"}
    assert runs[1].json["counts"].get("downloaded", 0) == 0
    assert (tmp_path / folder / "collide.nii.gz").read_bytes() == emulator.file_bytes(images["collide.nii.gz"])
    assert json.loads((tmp_path / folder / "collide.nii.gz.json").read_text())["id"] == images["collide.nii.gz"]["id"]
    assert part_files(tmp_path) == []
    # A refused file's own records are not written either.
    assert sorted(p.name for p in (tmp_path / folder).glob("collide*")) == ["collide.nii.gz", "collide.nii.gz.json"]
