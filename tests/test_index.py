"""`neurofetch index DEST`: a table of a mirrored tree for every service, sha256sum and BagIt manifests, --verify."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.allen.app import AllenEmulator
from neurofetch.transfer.catalog import read_table
from tests.conftest import every_loris_version
from tests.datamint_support import datamint_server, png_bytes
from tests.datamint_support import env_for as datamint_env
from tests.helpers import run_cli, tree_files
from tests.test_mirror_neurovault import DOI, collection, file_name, neurovault

STATE = ".neurofetch/state.sqlite3"


def index_rows(dest: Path, *args: str) -> list[dict[str, Any]]:
    result = run_cli("index", dest, "--format", "jsonl", *args)
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_rows_are_the_tree(rows: list[dict[str, Any]], dest: Path, service: str) -> None:
    files = tree_files(dest)
    assert [r["path"] for r in rows] == sorted(files)
    for row in rows:
        assert row["size"] == len(files[row["path"]]) and row["sha256"] == sha(files[row["path"]])
        assert row["service"] == service and row["fetched_at"]
        assert row["source_url"].startswith("http://127.0.0.1:") and "?" not in row["source_url"]


def sha256sum_check(dest: Path, manifest: str = "SHA256SUMS") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sha256sum", "--strict", "-c", manifest], cwd=dest, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def loris_tree(loris, loris_env, tmp_path: Path) -> Path:
    dest = tmp_path / "study"
    cands = sorted({p.split("/")[0] for p in loris.dataset.expected_tree()})[:2]
    result = run_cli("mirror", dest, "--candidate", cands[0], "--candidate", cands[1], env=loris_env)
    assert result.code == 0, result.stderr
    return dest


# ------------------------------------------------------------------------------------------ one per service


@every_loris_version
def test_loris_rows_carry_candidate_session_and_qc_columns(loris, loris_tree: Path) -> None:
    rows = index_rows(loris_tree)
    assert_rows_are_the_tree(rows, loris_tree, "loris")
    for row in rows:
        cand, visit, name = row["path"].split("/")
        record = loris.dataset.file(cand, visit, name)
        candidate = json.loads((loris_tree / cand / "candidate.json").read_text())["Meta"]
        qc = json.loads((loris_tree / cand / visit / f"{name}.qc.json").read_text())
        assert (row["candid"], row["visit"], row["pscid"], row["site"]) == (
            cand,
            visit,
            candidate["PSCID"],
            candidate["Site"],
        )
        assert (row["output_type"], row["acquisition_type"]) == (record.output_type, record.acquisition_type)
        assert row["qc.qc"] == (qc["QC"] or None) and row["candidate.sex"] == candidate["Sex"]
    dated = [r for r in rows if r.get("session.stages.visit.date")]
    # the visit's cohort, named Battery before v0.0.4-dev and Cohort from it
    assert dated and all(r.get("session.battery") or r.get("session.cohort") for r in rows)


def test_neurovault_rows_carry_the_image_records(tmp_path: Path) -> None:
    with neurovault() as (emulator, env):
        dest = tmp_path / "nv"
        assert run_cli("mirror", dest, "--doi", DOI, env=env).code == 0
        wanted = collection(emulator, "doi")
        images = {f"collection-{wanted['id']}/{file_name(i)}": i for i in emulator.images(wanted["id"])}
    rows = index_rows(dest)
    assert_rows_are_the_tree(rows, dest, "neurovault")
    assert {r["path"] for r in rows} == set(images)
    for row in rows:
        image = images[row["path"]]
        assert (row["collection"], row["image_id"], row["map_type"], row["modality"], row["name"]) == (
            wanted["id"],
            image["id"],
            image["map_type"],
            image["modality"],
            image["name"],
        )
        assert row["doi"] == wanted["DOI"]


def test_allen_rows_carry_the_image_records(tmp_path: Path) -> None:
    emulator = AllenEmulator(page_size_cap=50)
    plates = emulator.atlas_images(1)[:3]
    with emulator.serve() as server:
        env = {"NEUROFETCH_URL": emulator.base_url(server), "NEUROFETCH_SERVICE": "allen"}
        result = run_cli(
            "atlas-image", *(str(p["id"]) for p in plates), "--downsample", "6", "--out", tmp_path / "atlas", env=env
        )
        assert result.code == 0, result.stderr
    rows = index_rows(tmp_path / "atlas")
    assert_rows_are_the_tree(rows, tmp_path / "atlas", "allen")
    assert [(r["image_id"], r["section_number"]) for r in rows] == [(p["id"], p["section_number"]) for p in plates]
    assert all(r["path"].startswith("images/") and r["annotated"] is not None for r in rows)


@pytest.fixture
def datamint_tree(tmp_path: Path) -> Iterator[tuple[Path, list[Any]]]:
    with datamint_server() as emulator:
        made = [
            emulator.add_resource("a.png", png_bytes(), mimetype="image/png", channel="c1", tags=["left", "qc"]),
            emulator.add_resource(
                "b.dcm", b"DICM-ish bytes", mimetype="application/dicom", channel="c2", published=True
            ),
        ]
        dest = tmp_path / "dm"
        result = run_cli("mirror", dest, env=datamint_env(emulator))
        assert result.code == 0, result.stderr
        yield dest, made


def test_datamint_rows_carry_the_resource_records_and_their_segmentations(datamint_tree) -> None:
    dest, (a, b) = datamint_tree
    mask = dest / "c1" / f"{a.id}_a_mask.nii.gz"  # a segmentation kept beside its resource
    mask.write_bytes(b"mask")
    rows = {r["id"]: r for r in index_rows(dest)}
    assert set(rows) == {a.id, b.id} and all(r["service"] == "datamint" for r in rows.values())
    assert rows[a.id]["path"] == f"c1/{a.id}_a.png" and rows[a.id]["channel"] == "c1"
    assert rows[a.id]["tags"] == ["left", "qc"] and rows[a.id]["mimetype"] == "image/png"
    assert rows[a.id]["status"] == "inbox" and rows[b.id]["status"] == "published"
    assert rows[a.id]["segmentations"] == [f"c1/{mask.name}"] and rows[b.id]["segmentations"] is None
    record = json.loads((dest / f"{rows[a.id]['path']}.json").read_text())
    assert rows[a.id]["uploaded"] == record["created_at"]


def test_a_tree_from_before_the_journal_named_its_service_is_recognised(loris_tree: Path) -> None:
    with sqlite3.connect(loris_tree / STATE) as db:
        db.execute("DELETE FROM records WHERE key = 'service'")
        db.execute("DROP TABLE file_meta")
    rows = index_rows(loris_tree)
    assert rows and all(r["service"] == "loris" and r["candid"] for r in rows)


# ------------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl", "json", "parquet"])
def test_every_format_reads_back(fmt: str, datamint_tree, tmp_path: Path) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    dest, _ = datamint_tree
    expected = index_rows(dest)
    out = tmp_path / f"index.{fmt}"
    result = run_cli("index", dest, "-o", out)
    assert result.code == 0, result.stderr
    back = list(read_table(out))
    assert [r["path"] for r in back] == [r["path"] for r in expected]
    typed = fmt in ("jsonl", "json", "parquet")
    for got, want in zip(back, expected, strict=True):
        assert got["sha256"] == want["sha256"]
        assert got["size"] == (want["size"] if typed else str(want["size"]))
        assert got["tags"] == (want["tags"] if typed else ";".join(want["tags"] or []))


def test_terminal_free_default_is_tsv_and_unknown_format_is_exit_2(loris_tree: Path) -> None:
    result = run_cli("index", loris_tree)
    assert result.code == 0 and result.stdout.startswith("path\tsize\tsha256\tservice\tsource_url\tfetched_at")
    bad = run_cli("index", loris_tree, "--format", "xml")
    assert bad.code == 2 and "unknown --format 'xml'" in bad.stderr and "Traceback" not in bad.stderr


# ------------------------------------------------------------------------------------------ sha256sum


def test_sha256sum_manifest_checks_from_dest_and_catches_a_change(loris_tree: Path) -> None:
    assert run_cli("index", loris_tree, "--format", "sha256sum", "-o", loris_tree / "SHA256SUMS").code == 0
    passed = sha256sum_check(loris_tree)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    victim = sorted(tree_files(loris_tree))[3]
    (loris_tree / victim).write_bytes(b"altered")
    failed = sha256sum_check(loris_tree)
    assert failed.returncode == 1 and f"{victim}: FAILED" in failed.stdout


def test_sha256sum_escapes_names_as_gnu_does(loris_tree: Path) -> None:
    from neurofetch.transfer.journal import Journal

    names = {"odd\nname.mnc": b"newline", "back\\slash.mnc": b"backslash", "car\rriage.mnc": b"return"}
    journal = Journal.for_dest(loris_tree)
    for name, data in names.items():
        path = loris_tree / name
        path.write_bytes(data)
        journal.record(name, len(data), sha(data), "http://127.0.0.1/x", path.stat().st_mtime_ns)
    journal.close()
    result = run_cli("index", loris_tree, "--format", "sha256sum")
    assert result.code == 0, result.stderr
    (loris_tree / "SHA256SUMS").write_text(result.stdout)
    checked = sha256sum_check(loris_tree)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "\\" + sha(b"newline") + "  odd\\nname.mnc\n" in result.stdout


# ------------------------------------------------------------------------------------------ BagIt


def test_bagit_bag_validates_and_the_mirror_keeps_working(loris, loris_env, loris_tree: Path, tmp_path: Path) -> None:
    before = tree_files(loris_tree)
    bagdir = tmp_path / "study-bag"
    result = run_cli("index", loris_tree, "--bagit", bagdir, "-o", tmp_path / "index.tsv")
    assert result.code == 0, result.stderr
    bagit_cli = shutil.which("bagit.py", path=str(Path(sys.executable).parent))
    assert bagit_cli, "the bagit library's command is installed with the test extra"
    checked = subprocess.run([bagit_cli, "--validate", str(bagdir)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr[-2000:]
    manifest = (bagdir / "manifest-sha256.txt").read_text()
    for relpath, data in before.items():
        assert f"{sha(data)}  data/{relpath}\n" in manifest
    assert any(bagdir.glob("data/*/candidate.json"))  # the records travel with the files
    some = sorted(before)[0]
    assert (bagdir / "data" / some).stat().st_ino == (loris_tree / some).stat().st_ino  # a link, not a copy
    assert "Payload-Oxum" in (bagdir / "bag-info.txt").read_text()

    assert tree_files(loris_tree) == before and not (loris_tree / "data").exists()
    loris.log.clear()
    cands = sorted({p.split("/")[0] for p in before})
    again = run_cli("--json", "mirror", loris_tree, "--candidate", cands[0], "--candidate", cands[1], env=loris_env)
    assert again.code == 0, again.stderr
    assert again.json["counts"].get("downloaded", 0) == 0
    assert not [e for e in loris.log.entries() if "/images/" in e.path and not e.path.endswith("/qc")]


def test_bagit_refuses_a_folder_inside_dest_or_not_empty(loris_tree: Path, tmp_path: Path) -> None:
    inside = run_cli("index", loris_tree, "--bagit", loris_tree / "bag")
    assert inside.code == 2 and "outside" in inside.stderr and not (loris_tree / "bag").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    full = run_cli("index", loris_tree, "--bagit", tmp_path / "full")
    assert full.code == 2 and "not an empty folder" in full.stderr


# ------------------------------------------------------------------------------------------ --verify


def test_verify_is_exit_6_naming_the_changed_file(loris_tree: Path) -> None:
    clean = run_cli("--json", "index", loris_tree, "--verify")
    assert clean.code == 0, clean.stderr
    assert clean.json["counts"]["verified"] == len(tree_files(loris_tree))
    victim = sorted(tree_files(loris_tree))[0]
    data = (loris_tree / victim).read_bytes()
    (loris_tree / victim).write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, one bit changed
    changed = run_cli("index", loris_tree, "--verify")
    assert changed.code == 6 and changed.stdout == ""
    assert f"1 file differs from the journal: {victim}: content changed (sha256 differs)" in changed.stderr
    assert len(changed.stderr.strip().splitlines()) == 1


def test_not_a_mirror_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_cli("index", tmp_path)
    assert result.code == 2 and "is not a neurofetch mirror" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------ Python


def test_api_index_and_to_pandas(loris_tree: Path) -> None:
    from neurofetch import api

    rows = api.index(loris_tree, verify=True)
    assert [r.path for r in rows] == sorted(tree_files(loris_tree))
    assert rows[0].meta["candid"] == rows[0].path.split("/")[0]
    code = (
        "import sys; sys.modules['pandas'] = None\nfrom neurofetch import api\n"
        "try:\n    api.to_pandas([{'a': 1}])\nexcept Exception as exc:\n    print(type(exc).__name__, exc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "UsageError to_pandas needs pandas: pip install pandas"


def test_the_journal_names_the_service_when_the_records_are_gone(loris_tree: Path) -> None:
    for record in loris_tree.glob("*/candidate.json"):
        record.unlink()
    rows = index_rows(loris_tree)
    assert rows and all(r["service"] == "loris" and r["output_type"] for r in rows)


def test_shards_of_one_tree_are_indexed_together(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "sharded"
    for shard in ("1/2", "2/2"):
        assert run_cli("mirror", dest, "--shard", shard, env=loris_env).code == 0
    rows = index_rows(dest)
    assert [r["path"] for r in rows] == sorted(loris.dataset.expected_tree())
    assert rows[0]["candidate.dob"]
