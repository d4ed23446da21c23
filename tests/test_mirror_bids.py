"""`neurofetch mirror --bids` against the LORIS emulator's BIDS export (reference/loris.md §3.6): the tree, re-runs,
resume, filters, shards, a server without the export, hostile listings, and a real BIDS validator on the result."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from neurofetch.emulators.loris.app import LorisEmulator
from neurofetch.emulators.loris.bids import BIDS_ETAG, TOP_LEVEL, BidsExport
from tests.helpers import run_cli
from tests.resilience_support import serve_loris, start_background, the_error_line, wait_until

REPO = Path(__file__).resolve().parent.parent
BIDS_GET_MARKERS = ("/bids/", "/bidsfiles/")


def expected_tree(export: BidsExport) -> dict[str, bytes]:
    """What a BIDS mirror of ``export`` holds, by path under DEST: the export's own files, nothing else."""
    tree: dict[str, bytes] = {}
    for name in TOP_LEVEL:
        tree[name] = export.top_level(name) or b""
    for cand, visit in export.sessions:
        for ext in (".tsv", ".json"):
            name = f"sub-{cand}_ses-{visit}_scans{ext}"
            tree[f"sub-{cand}/ses-{visit}/{name}"] = export.session_file(cand, visit, name) or b""
    for image in export.images:
        cand, visit, filename = image.record.cand, image.record.visit, image.record.filename
        for name in image.names():
            tree[f"sub-{cand}/ses-{visit}/{image.subfolder}/{name}"] = (
                export.image_file(cand, visit, filename, name) or b""
            )
    return tree


def mirrored(dest: Path) -> dict[str, bytes]:
    """Every file under ``dest`` but the state folder, including the JSON files and dot files."""
    return {
        p.relative_to(dest).as_posix(): p.read_bytes()
        for p in dest.rglob("*")
        if p.is_file() and not p.relative_to(dest).as_posix().startswith(".neurofetch/")
    }


def bids_gets(emulator: LorisEmulator) -> list[str]:
    return [
        e.path
        for e in emulator.log.entries()
        if e.method == "GET" and any(marker in e.path for marker in BIDS_GET_MARKERS)
    ]


@pytest.fixture
def export(loris: LorisEmulator) -> BidsExport:
    assert loris.bids is not None
    return loris.bids


def test_mirror_bids_is_the_export_byte_for_byte_and_a_rerun_fetches_nothing(
    loris, loris_env, export, tmp_path: Path
) -> None:
    dest = tmp_path / "bids"
    expected = expected_tree(export)
    first = run_cli("--json", "mirror", dest, "--bids", env=loris_env)
    assert first.code == 0, first.stderr
    assert mirrored(dest) == expected
    assert first.json["counts"]["downloaded"] == len(expected)
    assert any(p.endswith("_T1w.nii.gz") for p in expected) and any("/func/" in p for p in expected)
    assert not list(dest.glob("*/candidate.json")) and not list(dest.rglob("*.qc.json"))  # no MINC-mode records

    loris.log.clear()
    second = run_cli("--json", "mirror", dest, "--bids", env=loris_env)
    assert second.code == 0, second.stderr
    assert bids_gets(loris) == []
    assert second.json["counts"] == {"skipped": len(expected)}
    listing = [e for e in loris.log.entries() if e.path.endswith("/projects/loris/bids")]
    assert len(listing) == 1 and "if-none-match" not in listing[0].headers  # its ETag never changes


def test_the_export_has_the_constant_etag_of_legacy_loris(loris, export) -> None:
    token = loris.issue_token("demo")
    headers = {"Authorization": f"Bearer {token}"}
    first = httpx.get(f"{loris.url}/projects/loris/bids", headers=headers)
    assert first.status_code == 200 and first.headers["etag"] == BIDS_ETAG
    body = first.json()
    assert set(body) == {
        "DatasetDescription",
        "README",
        "BidsValidatorConfig",
        "Participants",
        "SessionFiles",
        "Images",
    }
    assert {i["Subfolder"] for i in body["Images"]} >= {"anat", "func", "fmap"}
    assert all("BvalLink" in i for i in body["Images"] if i["Subfolder"] == "dwi")
    assert all("EventLink" in i for i in body["Images"] if "_task-encoding_" in i["NiftiLink"])
    again = httpx.get(f"{loris.url}/projects/loris/bids", headers={**headers, "If-None-Match": BIDS_ETAG})
    assert again.status_code == 304


def test_verify_finds_a_changed_file_and_fetches_it_again(loris, loris_env, export, tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    assert run_cli("mirror", dest, "--bids", env=loris_env).code == 0
    victim = next(dest.rglob("*_T1w.nii.gz"))
    good = victim.read_bytes()
    victim.write_bytes(b"\0" * len(good))
    result = run_cli("--json", "mirror", dest, "--bids", "--verify", env=loris_env)
    assert result.code == 6, result.stderr
    assert victim.read_bytes() == good
    assert mirrored(dest) == expected_tree(export)


def test_filters_candidate_visit_datatype_suffix(loris, loris_env, export, tmp_path: Path) -> None:
    image = next(i for i in export.images if i.subfolder == "anat" and i.stem.endswith("_T1w"))
    cand, visit = image.record.cand, image.record.visit
    dest = tmp_path / "t1w"
    result = run_cli(
        "mirror",
        dest,
        "--bids",
        "--candidate",
        cand,
        "--visit",
        visit,
        "--datatype",
        "anat",
        "--suffix",
        "T1w",
        env=loris_env,
    )
    assert result.code == 0, result.stderr
    session = f"sub-{cand}/ses-{visit}"
    wanted = {
        p: b
        for p, b in expected_tree(export).items()
        if "/" not in p
        or p in (f"{session}/sub-{cand}_ses-{visit}_scans.tsv", f"{session}/sub-{cand}_ses-{visit}_scans.json")
        or (p.startswith(f"{session}/anat/") and "_T1w." in p)
    }
    assert mirrored(dest) == wanted and any(p.endswith("_T1w.nii.gz") for p in wanted)

    funcs = tmp_path / "func"
    result = run_cli("mirror", funcs, "--bids", "--datatype", "func", "--suffix", "nonesuch", env=loris_env)
    assert result.code == 0, result.stderr
    assert "--suffix nonesuch matched nothing" in result.stderr
    assert set(mirrored(funcs)) == set(TOP_LEVEL)


def test_datatype_without_bids_is_a_usage_error(loris_env, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "d", "--datatype", "anat", env=loris_env)
    assert result.code == 2
    assert "--datatype and --suffix select files of the BIDS export: add --bids" in result.stderr
    assert not (tmp_path / "d").exists()


def test_two_shards_make_the_whole_tree_each_file_fetched_once(loris, loris_env, export, tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    for shard in ("1/2", "2/2"):
        result = run_cli("mirror", dest, "--bids", "--shard", shard, env=loris_env)
        assert result.code == 0, result.stderr
    assert mirrored(dest) == expected_tree(export)
    gets = bids_gets(loris)
    assert len(gets) == len(set(gets)) == len(expected_tree(export))


def test_a_server_without_the_export_is_exit_2_in_one_line(tmp_path: Path) -> None:
    with serve_loris(bids_export=False) as loris:
        dest = tmp_path / "bids"
        result = run_cli("mirror", dest, "--bids", env=loris.env())
    assert result.code == 2, result.stderr
    assert the_error_line(result.stderr).startswith(
        "neurofetch: error: --bids: this LORIS server has no BIDS export (GET "
    )
    assert "Traceback" not in result.stderr
    assert not dest.exists()


def journal_count(dest: Path) -> int:
    db = dest / ".neurofetch" / "state.sqlite3"
    try:
        return int(sqlite3.connect(db, timeout=1).execute("SELECT COUNT(*) FROM files").fetchone()[0])
    except sqlite3.Error:
        return 0


def journaled(dest: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(dest / ".neurofetch" / "state.sqlite3")) as db:
        return {row[0] for row in db.execute("SELECT path FROM files")}


def test_an_interrupted_bids_mirror_resumes_without_fetching_finished_files(tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    with serve_loris("drip=4000", candidates=2) as loris:
        assert loris.emulator.bids is not None
        expected = expected_tree(loris.emulator.bids)
        run = start_background("mirror", dest, "--bids", "--jobs", "2", env=loris.env(), logs=tmp_path / "logs")
        wait_until(lambda: journal_count(dest) >= 10, what="ten complete files", process=run)
        run.signal(signal.SIGTERM)
        assert run.wait(timeout=10) == 130, run.stderr
        on_disk = {p: b for p, b in mirrored(dest).items() if not p.endswith(".part")}
        assert all(expected[p] == b for p, b in on_disk.items())
        done = journaled(dest)  # a file renamed into place but not yet journaled is fetched again, rightly
        assert 10 <= len(done) < len(expected) and done <= set(on_disk)

        loris.faults.drip = 0
        loris.emulator.log.clear()
        again = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
        assert again.code == 0, again.stderr
        assert mirrored(dest) == expected
        refetched = {path.rsplit("/", 1)[1] for path in bids_gets(loris.emulator)}
        assert not refetched & {p.rsplit("/", 1)[-1] for p in done}


class HostileExport(BidsExport):
    """The emulator's export with entries a client must refuse, beside the ordinary ones."""

    def listing(self) -> dict[str, object]:
        body = super().listing()
        first = dict(body["Images"][0])  # type: ignore[index]
        cand, visit = first["Candidate"], first["Visit"]
        hostile = [
            {**first, "NiftiLink": "/candidates/../../../etc/passwd"},
            {**first, "NiftiLink": "//evil.example/x_T1w.nii.gz", "JsonLink": "http://evil.example/x.json"},
            {**first, "Subfolder": "../.."},
            {**first, "Candidate": "../outside"},
            {**first, "Visit": ".."},
            {**first, "NiftiLink": f"/candidates/{cand}/{visit}/images/a.mnc/bids/.neurofetch"},
            {"Candidate": cand},
            "not an object",
        ]
        body["Images"] = [*body["Images"], *hostile]  # type: ignore[misc]
        del body["BidsValidatorConfig"]  # optional: an export without it still mirrors
        return body


def test_hostile_links_and_names_are_refused_and_nothing_leaves_dest(tmp_path: Path) -> None:
    dest = tmp_path / "inner" / "bids"
    with serve_loris() as loris:
        loris.emulator.bids = HostileExport(loris.emulator.dataset)
        expected = expected_tree(loris.emulator.bids)
        del expected[".bids-validator-config.json"]
        result = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
        hosts = {e.path for e in loris.emulator.log.entries()}
    assert result.code == 1, result.stderr
    assert mirrored(dest) == expected  # every ordinary file, nothing else
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inner"] and os.listdir(tmp_path / "inner") == ["bids"]
    assert not any("passwd" in path or "evil" in path for path in hosts)
    failed = " ".join(f["item"] + " " + f["error"] for f in result.json["failures"])
    assert len(result.json["failures"]) >= 7, failed
    assert "not a plain path under the API" in failed and "refused an unsafe name" in failed
    assert "Traceback" not in result.stderr


# -- the BIDS validator ------------------------------------------------------------------------------------------


def bids_validator() -> str | None:
    """The bids-validator `.ci/run` installs (repo-local .node/), else one on PATH."""
    local = REPO / ".node" / "node_modules" / ".bin" / "bids-validator"
    if local.exists() and shutil.which("node"):
        return str(local)
    return shutil.which("bids-validator")


def validate(tree: Path) -> dict[str, Any]:
    validator = bids_validator()
    if validator is None:
        pytest.skip("bids-validator is not installed (`.ci/run` installs it with npm into .node/)")
    config = tree / ".bids-validator-config.json"
    args = [validator, str(tree), "--json", *(["--config", str(config)] if config.exists() else [])]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tree)
    assert done.stdout.strip(), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    report["exit"] = done.returncode
    return report


def test_the_mirrored_tree_passes_the_bids_validator(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    assert run_cli("mirror", dest, "--bids", env=loris_env).code == 0
    report = validate(dest)
    errors = [(e["code"], e["key"]) for e in report["issues"]["errors"]]
    assert errors == [] and report["exit"] == 0
    summary = report["summary"]
    assert len(summary["subjects"]) == len(loris.dataset.candidates)
    assert set(summary["tasks"]) == {"rest", "encoding", "retrieval"}


def test_every_series_is_as_far_apart_in_time_as_its_sidecar_says(loris, loris_env, tmp_path: Path) -> None:
    """What the validator checks as REPETITION_TIME_MISMATCH, without the validator: pixdim[4] = RepetitionTime."""
    import nibabel

    dest = tmp_path / "bids"
    assert run_cli("mirror", dest, "--bids", env=loris_env).code == 0
    series = [p for p in dest.rglob("*.nii.gz") if p.parent.name in ("func", "dwi", "asl")]
    assert series
    for path in series:
        sidecar = json.loads(path.with_name(path.name.removesuffix(".nii.gz") + ".json").read_text())
        header = nibabel.load(path).header
        assert len(header.get_data_shape()) == 4
        assert header.get_zooms()[3] == pytest.approx(sidecar["RepetitionTime"]), path.name


def test_the_emulators_hostile_names_stay_inside_dest(tmp_path: Path) -> None:
    dest = tmp_path / "inner" / "bids"
    with serve_loris("hostile_names=1") as loris:
        result = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
        hostile = loris.dataset.candidates[-1].cand_id
    assert result.code == 1, result.stderr
    assert os.listdir(tmp_path) == ["inner"] and os.listdir(tmp_path / "inner") == ["bids"]
    assert list(dest.glob(f"sub-{hostile}/ses-PREBL00/anat/*_T1w.nii.gz"))  # its ordinary image still comes
    assert not list(dest.glob(f"sub-{hostile}/ses-.*")) and "Traceback" not in result.stderr


def test_a_dry_run_plans_the_export_and_writes_nothing(loris, loris_env, export, tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    result = run_cli("--json", "mirror", dest, "--bids", "--dry-run", env=loris_env)
    assert result.code == 0, result.stderr
    assert not dest.exists() and bids_gets(loris) == []
    assert {p["path"] for p in result.json["planned"]} == set(expected_tree(export))
