"""`neurofetch mirror --bids` against a LORIS server without a BIDS export that serves each image's NIfTI conversion
(LORIS main, API v0.0.4-dev: ``…/images/{F}/format/nifti|bidsjson|bval|bvec``): the tree neurofetch names itself,
re-runs, resume, filters, shards, images without a conversion, hostile answers, and the BIDS validator."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from neurofetch.emulators.loris.app import LorisEmulator
from neurofetch.emulators.loris.bids import ImageFormats
from neurofetch.emulators.loris.data import ImageFile
from tests.helpers import run_cli
from tests.resilience_support import Loris, serve_loris, start_background, the_error_line, wait_until
from tests.test_mirror_bids import journal_count, journaled, mirrored, validate

MAIN = "v0.0.4-dev"  # the API version LORIS main serves the format/nifti downloads under


@contextmanager
def main_loris(faults: str = "", **args: Any) -> Iterator[Loris]:
    """A LORIS main server: API v0.0.4-dev, no BIDS export (stock LORIS has none), two candidates."""
    with serve_loris(faults, api_version=MAIN, candidates=args.pop("candidates", 2), **args) as loris:
        yield loris


def converted(emulator: LorisEmulator) -> dict[str, tuple[ImageFile, bytes]]:
    """What the server has of each image with a NIfTI conversion: its NIfTI bytes, keyed by its file name."""
    found = {}
    for record in emulator.dataset.files:
        nifti = emulator.formats.body(record, "nifti")
        if nifti is not None:
            found[record.filename] = (record, nifti)
    return found


def format_gets(emulator: LorisEmulator) -> list[str]:
    return [e.path for e in emulator.log.entries() if e.method == "GET" and "/format/" in e.path]


def niftis(dest: Path) -> dict[str, bytes]:
    return {p: b for p, b in mirrored(dest).items() if p.endswith(".nii.gz")}


def sidecar_of(dest: Path, nifti: str) -> Any:
    return json.loads((dest / nifti.removesuffix(".nii.gz")).with_suffix(".json").read_text())


def test_the_tree_is_the_servers_conversions_byte_for_byte_and_a_rerun_fetches_nothing(tmp_path: Path) -> None:
    import nibabel

    dest = tmp_path / "bids"
    with main_loris() as loris:
        server = converted(loris.emulator)
        result = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
        assert result.code == 0, result.stderr
        by_bytes = {nifti: name for name, (_record, nifti) in server.items()}
        on_disk = niftis(dest)
        # one NIfTI per acquisition: every conversion once, byte for byte, nothing else
        assert sorted(by_bytes.get(b, "?") for b in on_disk.values()) == sorted(server)
        for path, body in on_disk.items():
            record, _ = server[by_bytes[body]]
            sub, ses, datatype, name = path.split("/")
            assert (sub, ses) == (f"sub-{record.cand}", f"ses-{record.visit}")
            sidecar = sidecar_of(dest, path)
            assert sidecar == json.loads(loris.emulator.formats.body(record, "bidsjson") or b"")
            if datatype == "func":
                assert f"_task-{sidecar['TaskName']}_" in name and name.endswith("_bold.nii.gz")
                header = nibabel.load(dest / path).header  # volumes as far apart as the sidecar says
                assert header.get_zooms()[3] == pytest.approx(sidecar["RepetitionTime"])
            if datatype == "dwi":
                stem = dest / path.removesuffix(".nii.gz")
                assert stem.with_suffix(".bval").read_bytes() == loris.emulator.formats.body(record, "bval")
                assert stem.with_suffix(".bvec").read_bytes() == loris.emulator.formats.body(record, "bvec")
        names = set(on_disk)
        assert {p.split("/")[2] for p in names} == {"anat", "func", "dwi", "fmap", "perf"}
        assert not [p for p in mirrored(dest) if p.endswith((".mnc", ".txt", "candidate.json", ".qc.json"))]
        # several bold runs of a session: run-1, run-2 in the order of the server's file names
        runs = sorted(p for p in names if "_task-rest_run-" in p)
        assert runs, names
        first, second = runs[:2]
        assert "_run-1_" in first and "_run-2_" in second
        assert by_bytes[on_disk[first]] < by_bytes[on_disk[second]]
        description = json.loads((dest / "dataset_description.json").read_text())
        assert description["DatasetType"] == "raw" and description["GeneratedBy"][0]["Name"] == "neurofetch"
        participants = (dest / "participants.tsv").read_text().splitlines()
        cands = loris.dataset.candidates
        assert participants == ["participant_id\tsex", *(f"sub-{c.cand_id}\t{c.sex}" for c in cands)]
        scans = sorted(dest.glob("sub-*/ses-*/*_scans.tsv"))
        listed = {f"{s.parent.parent.name}/{s.parent.name}/{line}" for s in scans for line in s.read_text().split()[1:]}
        assert listed == names

        before = mirrored(dest)
        loris.emulator.log.clear()
        again = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
        assert again.code == 0, again.stderr
        assert format_gets(loris.emulator) == []
        assert again.json["counts"] == {
            "skipped": len([p for p in before if p.endswith((".nii.gz", ".bval", ".bvec"))])
        }
        assert mirrored(dest) == before


def test_the_tree_passes_the_bids_validator(tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    with main_loris() as loris:
        assert run_cli("mirror", dest, "--bids", env=loris.env()).code == 0
        subjects = {c.cand_id for c in loris.dataset.candidates}
    report = validate(dest)
    errors = [(e["code"], e["key"], e.get("reason")) for e in report["issues"]["errors"]]
    assert errors == [] and report["exit"] == 0
    assert set(report["summary"]["subjects"]) == subjects
    assert set(report["summary"]["tasks"]) == {"rest", "encoding", "retrieval"}


def test_an_image_without_a_nifti_is_one_skipped_item_with_its_reason(tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    with main_loris() as loris:
        t1w = next(f for f in loris.dataset.files if f.acquisition_type == "t1w-defaced")
        loris.emulator.formats.without_nifti.add(t1w.filename)
        result = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
    assert result.code == 0, result.stderr
    assert [w for w in result.json["warnings"] if t1w.filename in w and "no NIfTI" in w], result.json
    assert result.json["counts"]["skipped"] == 1 and result.json["failures"] == []
    session = dest / f"sub-{t1w.cand}" / f"ses-{t1w.visit}"
    assert not list(session.glob("anat/*_T1w.*"))
    assert "_T1w" not in next(session.glob("*_scans.tsv")).read_text()  # the scans file lists what is there


def test_datatype_anat_narrows_to_anatomy(tmp_path: Path) -> None:
    dest = tmp_path / "anat"
    with main_loris() as loris:
        result = run_cli("mirror", dest, "--bids", "--datatype", "anat", "--suffix", "T1w", env=loris.env())
        asked = format_gets(loris.emulator)
    assert result.code == 0, result.stderr
    files = set(mirrored(dest))
    images = {p for p in files if p.count("/") == 3}
    assert images and all("/anat/" in p and "_T1w." in p for p in images)
    assert all("t1w" in path for path in asked)  # nothing else was asked for
    assert {"dataset_description.json", "participants.tsv", "participants.json"} <= files


def test_two_shards_make_the_whole_tree_each_file_fetched_once(tmp_path: Path) -> None:
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    with main_loris() as loris:
        assert run_cli("mirror", whole, "--bids", env=loris.env()).code == 0
        loris.emulator.log.clear()
        for shard in ("1/2", "2/2"):
            result = run_cli("mirror", sharded, "--bids", "--shard", shard, env=loris.env())
            assert result.code == 0, result.stderr
        files = [p for p in format_gets(loris.emulator) if not p.endswith("/bidsjson")]
    assert mirrored(sharded) == mirrored(whole)
    assert len(files) == len(set(files)) == len([p for p in mirrored(whole) if not p.endswith((".json", ".tsv"))])


def test_an_interrupted_mirror_resumes_without_fetching_finished_files(tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    with main_loris("drip=4000") as loris:
        run = start_background("mirror", dest, "--bids", "--jobs", "2", env=loris.env(), logs=tmp_path / "logs")
        wait_until(lambda: journal_count(dest) >= 8, what="eight complete files", process=run)
        run.signal(signal.SIGTERM)
        assert run.wait(timeout=10) == 130, run.stderr
        done = journaled(dest)
        loris.faults.drip = 0
        loris.emulator.log.clear()
        again = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
        assert again.code == 0, again.stderr
        refetched = {path.split("/images/")[1] for path in format_gets(loris.emulator)}
        server = converted(loris.emulator)
    assert sorted(niftis(dest).values()) == sorted(nifti for _record, nifti in server.values())
    assert 8 <= len(done) < len(niftis(dest))
    finished = [p for p in done if p.endswith(".nii.gz")]
    on_disk = niftis(dest)
    by_bytes = {nifti: name for name, (_record, nifti) in server.items()}
    assert not {f"{by_bytes[on_disk[p]]}/format/nifti" for p in finished} & refetched


@pytest.mark.parametrize(
    ("version", "export"), [("v0.0.3-dev", False), ("v0.0.3", True)], ids=["legacy-without-export", "v0.0.3"]
)
def test_a_server_with_neither_is_exit_2_naming_both(version: str, export: bool, tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    with serve_loris(api_version=version, bids_export=export) as loris:
        result = run_cli("mirror", dest, "--bids", env=loris.env())
    assert result.code == 2, result.stderr
    line = the_error_line(result.stderr)
    assert "has no BIDS export" in line and f"its API {version} has no NIfTI downloads" in line, line
    assert not dest.exists()


# -- hostile answers --------------------------------------------------------------------------------------------


class NotJsonSidecar(ImageFormats):
    """One image's sidecar is an HTML page."""

    victim = ""

    def body(self, record: ImageFile, name: str) -> bytes | None:
        if record.filename == self.victim and name == "bidsjson":
            return b"<html><body>Login expired</body></html>"
        return super().body(record, name)


def test_a_sidecar_that_is_not_json_is_one_failed_item(tmp_path: Path) -> None:
    dest = tmp_path / "bids"
    with main_loris() as loris:
        formats = NotJsonSidecar(loris.dataset)
        formats.victim = next(f.filename for f in loris.dataset.files if f.acquisition_type == "t1w-defaced")
        loris.emulator.formats = formats
        result = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
        asked = format_gets(loris.emulator)
    assert result.code == 1, result.stderr
    (failure,) = result.json["failures"]
    assert failure["item"].endswith("_T1w.json") and "did not answer JSON" in failure["error"]
    assert not [p for p in asked if formats.victim in p and not p.endswith("/bidsjson")]  # its NIfTI is not asked
    assert niftis(dest) and not list(dest.rglob("*.tmp")) and "Traceback" not in result.stderr


class LyingLoris(LorisEmulator):
    """A server whose NIfTI downloads promise more bytes than they send."""

    def _format_response(self, record: ImageFile, name: str, request: Request) -> Response:
        response = super()._format_response(record, name, request)
        if name == "nifti" and response.status_code == 200:
            response.headers["content-length"] = str(int(response.headers["content-length"]) + 1000)
        return response


def test_a_content_length_lie_fails_the_file_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    dest = tmp_path / "inner" / "bids"
    from neurofetch.emulators.common import Faults
    from neurofetch.emulators.loris.data import LorisDataset

    emulator = LyingLoris(LorisDataset(candidates=1, size_scale=0.02), faults=Faults(), api_version=MAIN)
    with emulator.serve() as server:
        env = Loris(emulator, emulator.base_url(server)).env(NEUROFETCH_RETRIES="1", NEUROFETCH_RETRY_WAIT_MAX="0.05")
        result = run_cli("--json", "mirror", dest, "--bids", env=env)
    assert result.code == 1, result.stderr
    assert result.json["failures"] and all(f["item"].endswith(".nii.gz") for f in result.json["failures"])
    assert niftis(dest) == {} and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == ["inner"]


def test_hostile_candidate_and_visit_names_stay_inside_dest(tmp_path: Path) -> None:
    dest = tmp_path / "inner" / "bids"
    with main_loris("hostile_names=1", candidates=1) as loris:
        result = run_cli("--json", "mirror", dest, "--bids", env=loris.env())
        hostile = loris.dataset.candidates[-1].cand_id
        asked = format_gets(loris.emulator)
    assert result.code == 1, result.stderr
    assert not [path for path in asked if "escape" in path or "/sub/dir" in path or "CON.mnc" in path]
    assert os.listdir(tmp_path) == ["inner"] and os.listdir(tmp_path / "inner") == ["bids"]
    assert list(dest.glob(f"sub-{hostile}/ses-PREBL00/anat/*_T1w.nii.gz"))  # its ordinary image still comes
    assert not list(dest.glob(f"sub-{hostile}/ses-.*")) and "Traceback" not in result.stderr
    failed = " ".join(f["item"] + " " + f["error"] for f in result.json["failures"])
    assert "refused an unsafe name" in failed and "../../escape.mnc" in failed


def test_the_defaced_output_is_taken_where_an_acquisition_has_both(tmp_path: Path) -> None:
    from neurofetch.emulators.loris.data import LorisDataset

    dataset = LorisDataset(candidates=1, size_scale=0.02)
    defaced = next(f for f in dataset.files if f.acquisition_type == "t1w-defaced")
    native = dataset.add_image(defaced.cand, defaced.visit, scan_type="t1w")  # the same scan before defacing
    emulator = LorisEmulator(dataset, api_version=MAIN)
    dest = tmp_path / "bids"
    with emulator.serve() as server:
        result = run_cli("mirror", dest, "--bids", env=Loris(emulator, emulator.base_url(server)).env())
        asked = format_gets(emulator)
    assert result.code == 0, result.stderr
    (t1w,) = (dest / f"sub-{defaced.cand}" / f"ses-{defaced.visit}" / "anat").glob("*_T1w.nii.gz")
    assert t1w.name == f"sub-{defaced.cand}_ses-{defaced.visit}_T1w.nii.gz"  # one acquisition: no run entity
    assert t1w.read_bytes() == emulator.formats.body(defaced, "nifti")
    assert not [path for path in asked if native.filename in path]


def test_the_emulated_format_routes_answer_as_loris_main(tmp_path: Path) -> None:
    import httpx

    with main_loris(candidates=1) as loris, serve_loris(api_version="v0.0.3", candidates=1) as older:
        files = loris.dataset.files
        bold = next(f for f in files if f.acquisition_type == "bold")
        dwi = next(f for f in files if f.acquisition_type.startswith("dwi"))
        events = next(f for f in files if f.is_text)

        def get(server: Loris, record: ImageFile, name: str) -> httpx.Response:
            token = server.emulator.issue_token("demo")
            url = f"{server.url}/candidates/{record.cand}/{record.visit}/images/{record.filename}/format/{name}"
            return httpx.get(url, headers={"Authorization": f"Bearer {token}"})

        nifti = get(loris, bold, "nifti")
        assert nifti.status_code == 200 and nifti.headers["content-type"] == "application/octet-stream"
        assert nifti.content[:2] == b"\x1f\x8b"  # gzip'd NIfTI
        sidecar = get(loris, bold, "bidsjson")
        assert sidecar.headers["content-type"] == "application/json" and sidecar.json()["TaskName"] == "rest"
        assert get(loris, dwi, "bval").status_code == 200 and get(loris, dwi, "bvec").status_code == 200
        assert get(loris, bold, "bval").status_code == 404  # gradients only where there are some
        assert get(loris, events, "nifti").status_code == 404  # no NIfTI conversion of a text file
        assert get(loris, bold, "dicom").status_code == 415
        assert get(older, bold, "nifti").status_code == 404  # LORIS 23 (v0.0.3) has no format/nifti
        assert get(loris, bold, "nifti").headers["etag"] == nifti.headers["etag"]


def test_visit_labels_with_separators_become_plain_bids_labels(tmp_path: Path) -> None:
    from neurofetch.emulators.loris.data import LorisDataset

    dataset = LorisDataset(candidates=1, size_scale=0.02)
    cand = dataset.candidates[0]
    visit = next(v for v in cand.visits if v.files)
    dataset.rename_visit(cand.cand_id, visit.label, "Visit_1-MRI")
    emulator = LorisEmulator(dataset, api_version=MAIN)
    dest = tmp_path / "bids"
    with emulator.serve() as server:
        result = run_cli("mirror", dest, "--bids", env=Loris(emulator, emulator.base_url(server)).env())
    assert result.code == 0, result.stderr
    session = dest / f"sub-{cand.cand_id}" / "ses-Visit1MRI"
    assert sorted(p.name for p in session.iterdir())[-1] == f"sub-{cand.cand_id}_ses-Visit1MRI_scans.tsv"
    assert all(p.name.startswith(f"sub-{cand.cand_id}_ses-Visit1MRI_") for p in session.rglob("*.nii.gz"))
    assert list(session.rglob("*.nii.gz")) and not list(dest.glob("*/ses-Visit_1*"))
    report = validate(dest)
    assert [(e["code"], e["key"]) for e in report["issues"]["errors"]] == [] and report["exit"] == 0
